// Turning a --data / --test argument into data sets.
//
//   fashion-mnist            Debian's dataset-fashion-mnist (train / t10k)
//   DIR                      a folder with MNIST-format {train,t10k}-*-ubyte[.gz] files
//   IMAGES,LABELS            a pair of IDX files (.gz or not)
//   FILE.csv|.tsv|.txt       delimited text (csv.h), label column from --label-column
//   xor | spirals | moons | sine   built-in synthetic sets
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gradflow/data/dataset.h"

namespace gradflow::runs {

struct DataOptions {
  std::string label_column = "-1";
  bool regression = false;  // CSV: the label column is a real-valued target
  std::uint64_t seed = 42;  // synthetic sets
  std::size_t num_classes = 0;
  std::size_t max_classes = 100;  // CSV: a larger label is an error (csv::Options)
  std::vector<std::string> class_names;  // CSV: the training data's classes (for test, validation, eval data)
  std::vector<std::string> feature_names;  // CSV: a header's columns are matched to these
  bool allow_missing = false;              // CSV: missing features read as NaN (to be imputed)
  bool encode_numeric_labels = false;      // CSV training data: labels 1, 2, 3 are classes "1", "2", "3"
  std::vector<std::string> drop_columns{}, feature_columns{}, ignore_columns{};  // CSV: csv::Options's
  std::size_t limit = 0;  // IDX: read only the first N samples (0: all), decoding no further
};

// A comma-separated list of names ("" : none).
std::vector<std::string> name_list(const std::string& text);

// The training part (train = true) or the evaluation part of a data spec. For a CSV file or
// an IDX pair both are the file itself; the evaluation part of a synthetic set is drawn with
// another seed. Throws std::runtime_error naming the file and the problem.
Dataset load_data(const std::string& spec, bool train, const DataOptions& options);
// Whether the spec names a source with its own test split (fashion-mnist, an MNIST folder,
// the synthetic sets).
bool has_own_test_split(const std::string& spec);
// Whether a path names delimited text (.csv, .tsv, .txt, any case): read as CSV, the
// separator sniffed.
bool is_delimited_text(const std::string& path);
// Whether a synthetic spec is a regression task (sine).
bool is_regression(const std::string& spec);

// The spec with its files made absolute against `base` where they exist there (each of
// IMAGES,LABELS; a built-in name, "none" and "" stay as they are): a run's config.json then
// names the same files from any folder.
std::string absolute_spec(const std::string& spec, const std::filesystem::path& base);

// Whether the files a spec names exist (a built-in name, "none" and "" always do).
bool spec_exists(const std::string& spec);

// First n samples (n == 0 or n >= size: all).
Dataset head(const Dataset& d, std::size_t n);
// Only the samples of the listed classes ("5,7,8,9"), relabelled 0.. in the list's order, with
// their class names. Throws on a class the data does not have.
Dataset select_classes(const Dataset& d, const std::string& list);
// The first n samples of each class, in their order.
Dataset first_per_class(const Dataset& d, std::size_t n);

}  // namespace gradflow::runs
