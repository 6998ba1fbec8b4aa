// Imputation: a missing feature (NaN) is replaced by that feature's mean or median over the
// training set (scikit-learn's SimpleImputer, strategy "mean" / "median"; the median of an
// even count is the mean of the two middle values, as numpy's). The fill values are kept with
// the model, so test data and inference are filled the same way; they are computed before
// standardization, which then sees the filled data.
#pragma once

#include <string>
#include <vector>

#include "gradflow/tensor.h"

namespace gradflow {

struct Imputer {
  std::string strategy;     // "mean" | "median"; "" : no imputation
  std::vector<float> fill;  // one value per feature

  bool empty() const { return fill.empty(); }
  // Statistics of the present values of each feature of x [N, F]. Throws std::invalid_argument
  // for an unknown strategy, or a feature that has no value at all (names: optional, for the message).
  static Imputer fit(const Tensor& x, const std::string& strategy, const std::vector<std::string>& names = {});
  // Fills the NaNs of x in place; returns how many. Throws if x has a different number of features.
  std::size_t apply(Tensor& x) const;
};

}  // namespace gradflow
