#include "gradflow/data/standardize.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

Standardizer Standardizer::fit(const Tensor& x) {
  const std::size_t n = x.rows(), f = x.cols();
  std::vector<double> sum(f, 0.0), sq(f, 0.0);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < f; ++j) {
      sum[j] += x(r, j);
      sq[j] += static_cast<double>(x(r, j)) * x(r, j);
    }
  Standardizer s;
  s.mean.resize(f);
  s.std.resize(f);
  for (std::size_t j = 0; j < f; ++j) {
    const double m = sum[j] / static_cast<double>(n);
    s.mean[j] = static_cast<float>(m);
    s.std[j] = static_cast<float>(std::sqrt(std::max(0.0, sq[j] / static_cast<double>(n) - m * m)));
  }
  return s;
}

void Standardizer::apply(Tensor& x) const {
  if (empty()) return;
  if (x.cols() != mean.size())
    throw std::invalid_argument(fmt::format("standardization: data has {} features, the statistics {}",
                                            x.cols(), mean.size()));
  for (std::size_t r = 0; r < x.rows(); ++r) {
    float* row = x.row(r);
    for (std::size_t j = 0; j < x.cols(); ++j)
      row[j] = (row[j] - mean[j]) / (std[j] < 1e-8f ? 1.0f : std[j]);
  }
}

}  // namespace gradflow
