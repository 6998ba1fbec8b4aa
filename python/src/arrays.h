// numpy arrays in and out of gradflow's Tensors.
//
// A float32, C-contiguous 2-D array goes in without a copy: the Tensor is a view of its buffer
// (the caller keeps the array alive while the library reads it). Any other array (float64,
// integers, Fortran order, a list) is converted once to that form first. Outputs are new
// float32 arrays that own their data.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "gradflow/tensor.h"

namespace gradflow::python {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// `obj` as float32 C-contiguous [rows, cols]; `what` names it in errors ("X"). A 1-D array is
// taken as one column when `column` (labels), else an error. Throws py::value_error on a
// wrong rank or an empty array.
FloatArray as_matrix(const py::handle& obj, const char* what, bool column = false);
// A non-owning view of a matrix from as_matrix.
Tensor view_of(FloatArray& a);
// A new float32 array with t's contents.
py::array_t<float> to_numpy(const Tensor& t);
// Throws py::value_error naming the first NaN or infinite element of a, if any.
void check_finite(const FloatArray& a, const char* what);

}  // namespace gradflow::python
