// Tensor: a float32 matrix, row-major [rows, cols] — for activations [batch, features].
//
// Storage is 64-byte aligned (one cache line, two AVX2 vectors) so that BLAS and the
// vectorized element-wise loops see aligned rows. A Tensor either owns its storage or is a
// view into memory owned elsewhere (a model's flat parameter buffer, a dataset's rows).
//
// resize() keeps the allocation when the new size fits the capacity: a training loop that
// resizes its buffers to the batch size allocates on the first step only, including for a
// smaller last batch.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace gradflow {

class Tensor {
 public:
  Tensor() = default;
  // An owning, zero-filled [rows, cols] tensor.
  Tensor(std::size_t rows, std::size_t cols);
  // A non-owning view of rows*cols floats at data; the caller keeps data alive.
  static Tensor view(float* data, std::size_t rows, std::size_t cols);

  // Copies are deep and owning (a copy of a view owns its data); moves are cheap. Assigning
  // to a view of the same size writes through it (copy or move alike): this is how a layer's
  // parameters, which view the model's flat buffer, are loaded.
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&& other);

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  bool empty() const { return size() == 0; }
  bool is_view() const { return data_ != nullptr && !storage_; }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float* row(std::size_t r) { return data_ + r * cols_; }
  const float* row(std::size_t r) const { return data_ + r * cols_; }
  float& operator()(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
  float operator()(std::size_t r, std::size_t c) const { return data_[r * cols_ + c]; }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }
  std::span<float> span() { return {data_, size()}; }
  std::span<const float> span() const { return {data_, size()}; }

  // Reshape to [rows, cols]; contents are unspecified afterwards. Allocates only when an
  // owning tensor grows past its capacity; a view cannot grow (throws std::logic_error).
  void resize(std::size_t rows, std::size_t cols);
  void fill(float value);
  void zero() { fill(0.0f); }

  // "[64, 784]"
  std::string shape_str() const;

 private:
  struct Free {
    void operator()(float* p) const;
  };
  float* data_ = nullptr;
  std::size_t rows_ = 0, cols_ = 0, capacity_ = 0;
  std::unique_ptr<float[], Free> storage_;
};

}  // namespace gradflow
