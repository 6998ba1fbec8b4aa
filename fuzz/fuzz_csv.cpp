// CSV reader: any bytes, with the options picked by the first byte.
#include <exception>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "gradflow/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  gradflow::csv::Options o;
  o.regression = data[0] & 1;
  o.has_labels = !(data[0] & 2);
  if (data[0] & 4) o.label_column = std::string(1, '0');  // (a literal trips GCC 12's -Wrestrict)
  if (data[0] & 8) o.num_classes = 3;
  if (data[0] & 16) o.class_names = {"a", "b", "1"};
  if (data[0] & 32) o.feature_names = {"x", "y"};
  if (data[0] & 64) o.ignore_columns = {"label"};
  o.allow_missing = data[0] & 128;
  const std::string path = gradflow::fuzz::input_file(data + 1, size - 1, ".csv");
  gradflow::Dataset d;
  try {
    d = gradflow::csv::read(path, o);
  } catch (const std::exception&) {
    return 0;
  }
  // What was read goes into a model file's metadata as JSON, which takes text only: a name the
  // reader let through that is not UTF-8 would fail there, after the training (a bug: abort).
  (void)nlohmann::json{{"classes", d.class_names}, {"features", d.feature_names}, {"label", d.label_name}}.dump();
  return 0;
}
