// Dataset: samples as rows of x, with their targets.
//
//   x [N, F]                          features
//   y [N, 1] class labels (as floats)  when num_classes > 0 (classification)
//   y [N, T] target values             when num_classes == 0 (regression)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gradflow/tensor.h"

namespace gradflow {

struct Dataset {
  std::string name;
  Tensor x;
  Tensor y;
  std::size_t num_classes = 0;
  std::vector<std::string> class_names;  // optional, num_classes entries
  std::vector<std::string> feature_names;  // optional (a CSV header), features() entries
  std::string label_name;                  // optional (a CSV header's label column)
  std::vector<std::string> ignored_columns;  // a CSV header's columns the reader left out (csv.h)
  // How the reader transformed the file's values, when it did (the IDX readers' pixel / 255:
  // kIdxPixelForm): the model records it with the training inputs' range (InputRange::form).
  std::string input_form;

  std::size_t size() const { return x.rows(); }
  std::size_t features() const { return x.cols(); }
  bool classification() const { return num_classes > 0; }

  // The samples at the given indices, in that order.
  Dataset subset(std::span<const std::uint32_t> indices) const;
  // Throws std::invalid_argument unless x and y have the same rows, labels are whole numbers
  // in [0, num_classes), and every value is finite. `what` names the data in the message.
  void validate(const std::string& what) const;
};

// Splits d into (kept, held out): round(fraction · N) samples held out, drawn with `seed`; for
// classification each class contributes its share, the remainders going to the classes with
// the largest (stratified, as scikit-learn's train_test_split(stratify=y)) but never a class's
// last sample; both parts keep the samples' order. Throws std::invalid_argument when either
// part would be empty.
std::pair<Dataset, Dataset> split_stratified(const Dataset& d, double fraction, std::uint64_t seed);

// dst[i, :] = src[indices[i], :]; dst is resized to [indices.size(), src.cols()].
void gather_rows(const Tensor& src, std::span<const std::uint32_t> indices, Tensor& dst);

}  // namespace gradflow
