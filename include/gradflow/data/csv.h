// CSV data: one sample per line, comma-separated numbers, one column the label.
//
// The header line is optional: it is taken as a header when any of its fields is not a
// number. The label column is chosen by name (needs a header) or by 0-based index; a negative
// index counts from the end (−1: the last column, the default).
//
// Errors (std::runtime_error) name the file, the line and the column: ragged rows, a
// non-numeric field, a label that is not a class index.
#pragma once

#include <string>

#include "gradflow/data/dataset.h"

namespace gradflow::csv {

struct Options {
  std::string label_column = "-1";  // a header name, or an index (negative from the end)
  bool regression = false;          // label is a real-valued target, not a class index
  bool has_labels = true;           // false: every column is a feature (for predict)
  std::size_t num_classes = 0;      // 0: max(label) + 1
  std::size_t max_classes = 1000;   // with num_classes 0: a larger label is an error (each
                                    // class is an output unit: a label of 10⁷ is no class index)
};

Dataset read(const std::string& path, const Options& options = {});

}  // namespace gradflow::csv
