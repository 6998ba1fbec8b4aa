#include "gradflow/data/impute.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

Imputer Imputer::fit(const Tensor& x, const std::string& strategy, const std::vector<std::string>& names) {
  if (strategy != "mean" && strategy != "median")
    throw std::invalid_argument(fmt::format("imputation '{}': expected mean or median", strategy));
  Imputer imp{strategy, std::vector<float>(x.cols())};
  std::vector<float> present;
  for (std::size_t j = 0; j < x.cols(); ++j) {
    present.clear();
    for (std::size_t r = 0; r < x.rows(); ++r)
      if (!std::isnan(x(r, j))) present.push_back(x(r, j));
    if (present.empty())
      throw std::invalid_argument(fmt::format("feature {}{} has no values in the training data to take a {} from",
                                              j + 1, j < names.size() ? " ('" + names[j] + "')" : "", strategy));
    const std::size_t n = present.size();
    if (strategy == "mean") {
      double s = 0;
      for (float v : present) s += v;
      imp.fill[j] = static_cast<float>(s / static_cast<double>(n));
    } else {
      auto mid = present.begin() + static_cast<std::ptrdiff_t>(n / 2);
      std::nth_element(present.begin(), mid, present.end());
      double m = *mid;
      if (n % 2 == 0) m = (m + *std::max_element(present.begin(), mid)) / 2;
      imp.fill[j] = static_cast<float>(m);
    }
  }
  return imp;
}

std::size_t Imputer::apply(Tensor& x) const {
  if (empty()) return 0;
  if (x.cols() != fill.size())
    throw std::invalid_argument(fmt::format("imputation: data has {} features, the fill values {}", x.cols(), fill.size()));
  std::size_t filled = 0;
  for (std::size_t r = 0; r < x.rows(); ++r) {
    float* row = x.row(r);
    for (std::size_t j = 0; j < fill.size(); ++j)
      if (std::isnan(row[j])) row[j] = fill[j], ++filled;
  }
  return filled;
}

}  // namespace gradflow
