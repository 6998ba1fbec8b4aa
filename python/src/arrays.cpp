#include "arrays.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace gradflow::python {

FloatArray as_matrix(const py::handle& obj, const char* what, bool column) {
  FloatArray a = FloatArray::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::value_error(fmt::format("{}: expected an array of numbers, got {}", what,
                                      std::string(py::str(py::type::of(obj).attr("__name__")))));
  }
  if (a.ndim() == 1 && column) a = a.reshape({a.shape(0), py::ssize_t{1}});
  if (a.ndim() != 2)
    throw py::value_error(fmt::format("{}: expected a 2-D array [samples, {}], got {} dimension(s)", what,
                                      column ? "outputs" : "features", a.ndim()));
  if (a.shape(0) == 0 || a.shape(1) == 0)
    throw py::value_error(fmt::format("{}: empty array of shape ({}, {})", what, a.shape(0), a.shape(1)));
  return a;
}

Tensor view_of(FloatArray& a) {
  // The library only reads a data set (a read-only array, a memmap, is fine).
  return Tensor::view(const_cast<float*>(a.data()), static_cast<std::size_t>(a.shape(0)),
                      static_cast<std::size_t>(a.shape(1)));
}

py::array_t<float> to_numpy(const Tensor& t) {
  py::array_t<float> out({static_cast<py::ssize_t>(t.rows()), static_cast<py::ssize_t>(t.cols())});
  std::memcpy(out.mutable_data(), t.data(), t.size() * sizeof(float));
  return out;
}

void check_finite(const FloatArray& a, const char* what) {
  const float* v = a.data();
  const auto cols = static_cast<std::size_t>(a.shape(1));
  for (std::size_t i = 0; i < static_cast<std::size_t>(a.size()); ++i)
    if (!std::isfinite(v[i]))
      throw py::value_error(fmt::format("{}: row {}, column {} is {} (expected a finite number)", what, i / cols,
                                        i % cols, v[i]));
}

}  // namespace gradflow::python
