#include "data_source.h"

#include <filesystem>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/data/csv.h"
#include "gradflow/data/idx.h"
#include "gradflow/data/synthetic.h"

namespace gradflow::app {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_synthetic(const std::string& s) {
  return s == "xor" || s == "spirals" || s == "moons" || s == "sine";
}
}  // namespace

bool has_own_test_split(const std::string& spec) {
  return spec == "fashion-mnist" || is_synthetic(spec) || std::filesystem::is_directory(spec);
}

bool is_regression(const std::string& spec) { return spec == "sine"; }

Dataset load_data(const std::string& spec, bool train, const DataOptions& o) {
  Dataset d;
  if (spec == "fashion-mnist") {
    if (!std::filesystem::is_directory(idx::kFashionMnistDir))
      throw std::runtime_error(fmt::format(
          "Fashion-MNIST not found in {} (install Debian's dataset-fashion-mnist package)", idx::kFashionMnistDir));
    d = idx::fashion_mnist(idx::kFashionMnistDir, train);
  } else if (is_synthetic(spec)) {
    const std::uint64_t seed = train ? o.seed : o.seed + 1000003;
    if (spec == "xor") d = synthetic::xor_gate();
    else if (spec == "spirals") d = synthetic::spirals(train ? 500 : 250, 2, 0.1f, seed);
    else if (spec == "moons") d = synthetic::moons(train ? 1000 : 500, 0.1f, seed);
    else d = synthetic::sine(train ? 1000 : 500, seed);
  } else if (std::filesystem::is_directory(spec)) {
    d = idx::mnist_dir(spec, train, spec);
  } else if (spec.find(',') != std::string::npos) {
    const std::size_t comma = spec.find(',');
    d = idx::read_pair(spec.substr(0, comma), spec.substr(comma + 1), o.num_classes);
  } else if (ends_with(spec, ".csv") || ends_with(spec, ".CSV")) {
    csv::Options co;
    co.label_column = o.label_column;
    co.regression = o.regression;
    co.num_classes = o.num_classes;
    d = csv::read(spec, co);
  } else if (!std::filesystem::exists(spec)) {
    throw std::runtime_error(fmt::format(
        "data '{}': no such file, and not one of fashion-mnist, xor, spirals, moons, sine", spec));
  } else {
    throw std::runtime_error(fmt::format(
        "data '{}': cannot tell the format (expected a .csv file, IMAGES,LABELS IDX files, or a folder of MNIST files)",
        spec));
  }
  return d;
}

Dataset head(const Dataset& d, std::size_t n) {
  if (n == 0 || n >= d.size()) return d;
  std::vector<std::uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  return d.subset(idx);
}

}  // namespace gradflow::app
