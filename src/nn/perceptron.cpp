#include "gradflow/perceptron.h"

#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

Perceptron::Perceptron(std::size_t in_features) : w_(in_features, 0.0f) {
  if (in_features == 0) throw std::invalid_argument("Perceptron: in_features must be positive");
}

int Perceptron::predict(std::span<const float> x) const {
  if (x.size() != w_.size())
    throw std::invalid_argument(fmt::format("Perceptron({}): input has {} features", w_.size(), x.size()));
  float s = b_;
  for (std::size_t j = 0; j < w_.size(); ++j) s += w_[j] * x[j];
  return s > 0.0f ? 1 : -1;
}

std::size_t Perceptron::fit(const Tensor& x, std::span<const int> t, std::size_t max_epochs,
                            float lr) {
  if (x.cols() != w_.size())
    throw std::invalid_argument(fmt::format("Perceptron({}): input has {} features (shape {})",
                                            w_.size(), x.cols(), x.shape_str()));
  if (t.size() != x.rows())
    throw std::invalid_argument(fmt::format("Perceptron: {} samples but {} targets", x.rows(), t.size()));
  for (int v : t)
    if (v != 1 && v != -1) throw std::invalid_argument("Perceptron: targets must be +1 or -1");
  auto errors = [&] {
    std::size_t e = 0;
    for (std::size_t i = 0; i < x.rows(); ++i)
      e += predict({x.row(i), x.cols()}) != t[i];
    return e;
  };
  for (std::size_t epoch = 0; epoch < max_epochs; ++epoch) {
    bool mistake = false;
    for (std::size_t i = 0; i < x.rows(); ++i) {
      if (predict({x.row(i), x.cols()}) == t[i]) continue;
      mistake = true;
      const float* xi = x.row(i);
      for (std::size_t j = 0; j < w_.size(); ++j) w_[j] += lr * static_cast<float>(t[i]) * xi[j];
      b_ += lr * static_cast<float>(t[i]);
    }
    if (!mistake) break;
  }
  return errors();
}

}  // namespace gradflow
