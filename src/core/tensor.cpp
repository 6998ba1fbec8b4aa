#include "gradflow/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace gradflow {

namespace {
constexpr std::size_t kAlign = 64;

float* aligned_floats(std::size_t n) {
  std::size_t bytes = (n * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, std::max<std::size_t>(bytes, kAlign));
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}
}  // namespace

void Tensor::Free::operator()(float* p) const { std::free(p); }

Tensor::Tensor(std::size_t rows, std::size_t cols) {
  resize(rows, cols);
  zero();
}

Tensor Tensor::view(float* data, std::size_t rows, std::size_t cols) {
  Tensor t;
  t.data_ = data;
  t.rows_ = rows;
  t.cols_ = cols;
  t.capacity_ = rows * cols;
  return t;
}

Tensor::Tensor(const Tensor& other) { *this = other; }

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  if (is_view() && size() == other.size()) {
    // Assigning into a view writes through it: this is how parameters are restored.
    rows_ = other.rows_;
    cols_ = other.cols_;
  } else {
    if (is_view()) {
      data_ = nullptr;
      capacity_ = 0;
    }
    resize(other.rows_, other.cols_);
  }
  if (other.size()) std::memcpy(data_, other.data_, other.size() * sizeof(float));
  return *this;
}

Tensor& Tensor::operator=(Tensor&& other) {
  if (is_view() && size() == other.size()) return *this = static_cast<const Tensor&>(other);
  data_ = std::exchange(other.data_, nullptr);
  rows_ = std::exchange(other.rows_, 0);
  cols_ = std::exchange(other.cols_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  storage_ = std::move(other.storage_);
  return *this;
}

void Tensor::resize(std::size_t rows, std::size_t cols) {
  std::size_t n = rows * cols;
  if (n > capacity_) {
    if (is_view())
      throw std::logic_error(fmt::format("Tensor view of {} floats cannot grow to [{}, {}]",
                                         capacity_, rows, cols));
    storage_.reset(aligned_floats(n));
    data_ = storage_.get();
    capacity_ = n;
  }
  rows_ = rows;
  cols_ = cols;
}

void Tensor::fill(float value) { std::fill_n(data_, size(), value); }

std::string Tensor::shape_str() const { return fmt::format("[{}, {}]", rows_, cols_); }

}  // namespace gradflow
