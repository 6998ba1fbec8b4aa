// CSV data: one sample per line, comma-separated fields, one column the label.
//
// Header: the first line is a header when a field outside the label column is not a number (nor
// a missing value). The label column is chosen by name (needs a header) or by 0-based index; a
// negative index counts from the end (−1: the last column, the default).
//
// Labels, as scikit-learn users have them:
//   - numbers: each whole number ≥ 0 is its class index (a regression target: any finite number);
//   - text (any label that is not a number): each distinct text is a class, in sorted order as
//     scikit-learn's LabelEncoder, named in Dataset::class_names.
// A numeric label column that looks like a numeric target — a fraction, or a class index of
// max_classes or more — is an error that suggests a regression (--task regression / --loss mse).
//
// Quoting (RFC 4180, as pandas' to_csv and Python's csv module write it): a field in double
// quotes may hold the separator, a newline and "" for a quote; a quote left open is an error
// naming the line and column where it opened. The separator is sniffed from the first record.
//
// Columns left out (Dataset::ignored_columns): an unnamed first column in a header (pandas'
// to_csv() writes its index there: in a class-sorted file it would give the label away), the
// columns named in drop_columns, and with feature_columns every column not named there.
//
// Missing values: an empty field or one of NA N/A n/a NaN nan -nan null NULL None ? #N/A <NA>
// (pandas' and UCI's spellings). A missing feature is an error naming the line and column
// unless allow_missing (then it reads as NaN, for an Imputer to fill); a missing label always is.
//
// Errors (std::runtime_error) name the file, the line and the column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gradflow/data/dataset.h"

namespace gradflow::csv {

struct Options {
  std::string label_column = "-1";  // a header name, or an index (negative from the end)
  bool regression = false;          // label is a real-valued target, not a class
  bool has_labels = true;           // false: every column is a feature (predict)
  std::size_t num_classes = 0;      // 0: from the labels
  std::size_t max_classes = 100;    // with num_classes 0: a class index must be below this
  // The classes a model was trained with (evaluation and test data): a label that is one of
  // these names is that class; otherwise a whole number below num_classes is its index.
  std::vector<std::string> class_names;
  // The features a model was trained on, by name: a file with a header has its columns matched
  // to them in any order (a missing or an unknown column is an error); without a header the
  // columns are taken in order.
  std::vector<std::string> feature_names;
  std::vector<std::string> ignore_columns;  // dropped when the header has them (a label column at predict time)
  std::vector<std::string> drop_columns;    // dropped; each must be in the header
  std::vector<std::string> feature_columns;  // when given: the features, by name; the other columns are left out
  bool allow_missing = false;               // missing features read as NaN instead of an error
  // Training data: whole-number labels that are not 0..K−1 (1, 2, 3) become classes named by
  // their values, in increasing order, as text labels do (scikit-learn's LabelEncoder). Other
  // files are read in the training data's terms (its class names, or indices).
  bool encode_numeric_labels = false;
  // What the error messages suggest, in the caller's words (the CLI names its options).
  struct Hints {
    std::string impute = "impute them (mean or median)";
    std::string max_classes = "raise max_classes";
    std::string regression = "train a regression";
  } hints;
};

// The fields of the file's first non-blank line, as read() splits them (empty when the file
// cannot be read): whether it has a header naming some column.
std::vector<std::string> first_line(const std::string& path);

// Whether a field is one of the spellings of a missing value.
bool is_missing(std::string_view field);

Dataset read(const std::string& path, const Options& options = {});

}  // namespace gradflow::csv
