// Standardization: x' = (x − mean) / std per feature, with mean and std computed on the
// training set only and kept with the model, so test data and inference see the same map.
// A feature with std < 1e-8 (constant) is only centred.
#pragma once

#include <vector>

#include "gradflow/tensor.h"

namespace gradflow {

struct Standardizer {
  std::vector<float> mean, std;

  bool empty() const { return mean.empty(); }
  static Standardizer fit(const Tensor& x);
  // In place; throws std::invalid_argument if x has a different number of features.
  void apply(Tensor& x) const;
};

}  // namespace gradflow
