// The training inputs' range: each feature's smallest and largest value in the training set,
// as the model received them (before imputation and standardization), kept with the model.
// Inputs far outside it are how a model is silently fed the wrong thing — raw 0–255 pixels
// given to a model trained on IDX images that the reader scaled to [0, 1], features in other
// units, columns in another order — so predict and eval check every input against it.
//
//   far outside:  x < min − w  or  x > max + w,   w = max − min (1 for a constant feature)
//   flagged:      more than 0.5% of the values far outside, or (over ≥ 32 rows) more than half
//                 of one feature's — not a test set's rare value past a border pixel's range
//   squeezed:     all values within 1/50 of the training values' span (≥ 32 rows or ≥ 4
//                 features): pixels already divided by 255 given to a model trained on raw ones
#pragma once

#include <string>
#include <vector>

#include "gradflow/tensor.h"

namespace gradflow {

struct InputRange {
  std::vector<float> min, max;  // one per feature; empty: unknown (a model from before ranges)
  // How the reader transformed the training inputs, when it did ("IDX pixels / 255"): named
  // in the warning, as the likely cause.
  std::string form;

  bool empty() const { return min.empty(); }
  // The range of each feature of x [N, F], NaN (missing) values skipped; a feature with no
  // value gets [0, 0].
  static InputRange fit(const Tensor& x, std::string form = "");
  // One line saying how many values of x fall far outside the range and in which features (at
  // most 5 named, with their range and the farthest value), or that x is squeezed, and the
  // likely cause; "" when neither.
  // names: the features' names (optional). Throws std::invalid_argument on a feature count
  // other than the range's.
  std::string check(const Tensor& x, const std::vector<std::string>& names = {}) const;
};

// The form the IDX readers give their images in (pixel / 255, in [0, 1]).
inline constexpr const char* kIdxPixelForm = "IDX images, read as pixel / 255 (0-255 -> [0, 1])";

}  // namespace gradflow
