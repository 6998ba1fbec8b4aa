#include "runs/data_source.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

#include "gradflow/data/csv.h"
#include "gradflow/data/idx.h"
#include "gradflow/data/synthetic.h"

namespace gradflow::runs {

namespace {
bool is_synthetic(const std::string& s) {
  return s == "xor" || s == "spirals" || s == "moons" || s == "sine";
}
}  // namespace

bool is_delimited_text(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".csv" || ext == ".tsv" || ext == ".txt";
}

bool has_own_test_split(const std::string& spec) {
  return spec == "fashion-mnist" || is_synthetic(spec) || std::filesystem::is_directory(spec);
}

bool is_regression(const std::string& spec) { return spec == "sine"; }

namespace {
// Without throwing: a name too long for the file system is a name that does not exist.
bool file_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}
}  // namespace

bool spec_exists(const std::string& spec) {
  if (spec.empty() || spec == "none" || spec == "fashion-mnist" || is_synthetic(spec) || file_exists(spec)) return true;
  const std::size_t comma = spec.find(',');
  return comma != std::string::npos && file_exists(spec.substr(0, comma)) && file_exists(spec.substr(comma + 1));
}

std::string absolute_spec(const std::string& spec, const std::filesystem::path& base) {
  namespace fs = std::filesystem;
  if (spec.empty() || spec == "none" || spec == "fashion-mnist" || is_synthetic(spec)) return spec;
  const auto absolute = [&](const std::string& p) {
    if (p.empty() || fs::path(p).is_absolute() || !file_exists(base / p)) return p;
    return fs::absolute(base / p).lexically_normal().string();
  };
  const std::size_t comma = spec.find(',');
  if (comma == std::string::npos || file_exists(base / spec)) return absolute(spec);
  return absolute(spec.substr(0, comma)) + "," + absolute(spec.substr(comma + 1));
}

Dataset load_data(const std::string& spec, bool train, const DataOptions& o) {
  // A name the file system refuses (too long, a loop) is an error about the name, said briefly.
  std::error_code ec;
  (void)std::filesystem::status(spec, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw std::runtime_error(fmt::format("data '{}': {}", detail::quote(spec), ec.message()));
  Dataset d;
  if (spec == "fashion-mnist") {
    if (!std::filesystem::is_directory(idx::kFashionMnistDir))
      throw std::runtime_error(fmt::format(
          "Fashion-MNIST not found in {} (install Debian's dataset-fashion-mnist package)", idx::kFashionMnistDir));
    d = idx::fashion_mnist(idx::kFashionMnistDir, train, o.limit);
  } else if (is_synthetic(spec)) {
    const std::uint64_t seed = train ? o.seed : o.seed + 1000003;
    if (spec == "xor") d = synthetic::xor_gate();
    else if (spec == "spirals") d = synthetic::spirals(train ? 500 : 250, 2, 0.1f, seed);
    else if (spec == "moons") d = synthetic::moons(train ? 1000 : 500, 0.1f, seed);
    else d = synthetic::sine(train ? 1000 : 500, seed);
  } else if (std::filesystem::is_directory(spec)) {
    d = idx::mnist_dir(spec, train, spec, o.limit);
  } else if (spec.find(',') != std::string::npos && !std::filesystem::is_regular_file(spec)) {
    // IMAGES,LABELS — unless a file of that very name exists (a CSV path with a comma).
    const std::size_t comma = spec.find(',');
    d = idx::read_pair(spec.substr(0, comma), spec.substr(comma + 1), o.num_classes, o.limit);
  } else if (is_delimited_text(spec)) {
    csv::Options co;
    co.label_column = o.label_column;
    co.regression = o.regression;
    co.num_classes = o.num_classes;
    co.max_classes = o.max_classes;
    co.class_names = o.class_names;
    co.feature_names = o.feature_names;
    co.allow_missing = o.allow_missing;
    co.encode_numeric_labels = o.encode_numeric_labels;
    co.drop_columns = o.drop_columns;
    co.feature_columns = o.feature_columns;
    co.ignore_columns = o.ignore_columns;
    co.hints = {.impute = "let training fill it (--impute mean|median)",
                .max_classes = "--max-classes raises it",
                .regression = "train a regression (--task regression or --loss mse)"};
    d = csv::read(spec, co);
  } else if (!std::filesystem::exists(spec)) {
    throw std::runtime_error(fmt::format(
        "data '{}': no such file, and not one of fashion-mnist, xor, spirals, moons, sine", detail::quote(spec)));
  } else {
    throw std::runtime_error(fmt::format(
        "data '{}': cannot tell the format (expected a .csv, .tsv or .txt file, IMAGES,LABELS IDX files, or a folder "
        "of MNIST files)",
        detail::quote(spec)));
  }
  return d;
}

std::vector<std::string> name_list(const std::string& text) {
  std::vector<std::string> names;
  for (std::size_t start = 0; start <= text.size() && !text.empty();) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    names.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

Dataset head(const Dataset& d, std::size_t n) {
  if (n == 0 || n >= d.size()) return d;
  std::vector<std::uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  return d.subset(idx);
}

Dataset select_classes(const Dataset& d, const std::string& list) {
  if (!d.classification()) throw std::invalid_argument("--classes needs a classification data set");
  std::vector<std::size_t> keep;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    // A class by its name (as predict prints it), else by its index.
    const auto named = std::find(d.class_names.begin(), d.class_names.end(), item);
    std::size_t c = static_cast<std::size_t>(named - d.class_names.begin());
    if (named == d.class_names.end()) {
      auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), c);
      if (ec != std::errc() || p != item.data() + item.size() || c >= d.num_classes)
        throw std::invalid_argument(fmt::format("--classes '{}': '{}' is not a class of {} ({}0..{})", detail::quote(list), detail::quote(item),
                                                d.name, d.class_names.empty() ? "" : "a name or an index ",
                                                d.num_classes - 1));
    }
    if (std::find(keep.begin(), keep.end(), c) != keep.end())
      throw std::invalid_argument(fmt::format("--classes '{}': class {} is listed twice", detail::quote(list), c));
    keep.push_back(c);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<int> new_label(d.num_classes, -1);
  for (std::size_t i = 0; i < keep.size(); ++i) new_label[keep[i]] = static_cast<int>(i);
  std::vector<std::uint32_t> idx;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (new_label[static_cast<std::size_t>(d.y[i])] >= 0) idx.push_back(static_cast<std::uint32_t>(i));
  Dataset out = d.subset(idx);
  for (float& v : out.y.span()) v = static_cast<float>(new_label[static_cast<std::size_t>(v)]);
  out.num_classes = keep.size();
  out.class_names.clear();
  for (std::size_t c : keep)
    out.class_names.push_back(c < d.class_names.size() ? d.class_names[c] : std::to_string(c));
  return out;
}

Dataset first_per_class(const Dataset& d, std::size_t n) {
  if (!d.classification()) throw std::invalid_argument("--per-class needs a classification data set");
  std::vector<std::size_t> seen(d.num_classes, 0);
  std::vector<std::uint32_t> idx;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (seen[static_cast<std::size_t>(d.y[i])]++ < n) idx.push_back(static_cast<std::uint32_t>(i));
  return d.subset(idx);
}

}  // namespace gradflow::runs
