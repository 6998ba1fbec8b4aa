#include "studies/study.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "runs/report.h"
#include "gradflow/model_file.h"
#include "gradflow/threads.h"
#include "studies/studies.h"

namespace gradflow::runs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// JSON has no NaN or infinity.
json finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
}  // namespace

StudyReport::StudyReport(std::string name, std::string question, bool quick)
    : name_(std::move(name)), question_(std::move(question)), quick_(quick) {}

void StudyReport::line_chart(std::string title, std::string xlabel, std::string ylabel, std::vector<double> x,
                             std::vector<Series> series, std::string caption, ChartOptions options) {
  json s = json::array();
  for (const auto& ser : series) {
    json values = json::array();
    for (double v : ser.values) values.push_back(finite(v));
    json j{{"label", ser.label}, {"values", values}};
    if (ser.dashed) j["dash"] = {6, 3};
    s.push_back(std::move(j));
  }
  charts_.push_back({{"type", "line"}, {"title", title}, {"xlabel", xlabel}, {"ylabel", ylabel}, {"x", x},
                     {"series", s}, {"caption", caption}, {"log", options.log}, {"xlog", options.xlog}});
}

void StudyReport::regions_chart(std::string title, double x0, double x1, double y0, double y1, std::size_t nx,
                                std::size_t ny, std::vector<int> cells, std::vector<std::array<double, 3>> points,
                                std::string caption) {
  charts_.push_back({{"type", "regions"}, {"title", title}, {"x0", x0}, {"x1", x1}, {"y0", y0}, {"y1", y1},
                     {"nx", nx}, {"ny", ny}, {"cells", cells}, {"points", points}, {"caption", caption}});
}

void StudyReport::claim(std::string text, bool held, bool expected) {
  claims_.push_back({{"text", std::move(text)}, {"held", held}, {"expected", expected}});
}

json StudyReport::to_json() const {
  return {{"study", name_},   {"question", question_}, {"quick", quick_},   {"settings", settings_},
          {"table", {{"columns", columns_}, {"rows", rows_}}},        {"claims", claims_},
          {"finding", finding_}, {"charts", charts_},  {"numbers", numbers_}};
}

void StudyReport::print() const {
  // (run_study's header line already says the claim.)
  std::vector<std::size_t> w(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    w[c] = columns_[c].size();
    for (const auto& r : rows_) w[c] = std::max(w[c], c < r.size() ? r[c].size() : 0);
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < columns_.size(); ++c)
      s += c == 0 ? fmt::format("{:<{}}", cells[c], w[c]) : fmt::format("  {:>{}}", c < cells.size() ? cells[c] : "", w[c]);
    fmt::print("{}\n", s);
  };
  line(columns_);
  for (const auto& r : rows_) line(r);
  fmt::print("\n");
  for (const auto& c : claims_)
    fmt::print("{} {}\n", c["held"].get<bool>() ? "[held]       " : "[did not hold]", c["text"].get<std::string>());
  if (!finding_.empty()) fmt::print("\n{}\n", finding_);
}

std::span<const Study> studies() {
  static const Study kStudies[] = {
      {"xor", "a perceptron and a linear network cannot learn XOR; one non-linear hidden layer can", study_xor},
      {"approximation", "one hidden layer fits a 1-D function better as it grows wider", study_approximation},
      {"init", "N(0,1) saturates and its gradients vanish; Glorot keeps the variance roughly constant", study_init},
      {"deep-relu", "a 30-layer ReLU net trains under He initialization and stalls under Glorot", study_deep_relu},
      {"dying-relu", "ReLUs die at high learning rates; the leaky variants, ELU and SELU do not", study_dying_relu},
      {"selu", "SELU with LeCun initialization keeps mean 0 and std 1 through depth", study_selu},
      {"batchnorm", "batch normalization trains in fewer epochs and tolerates higher rates", study_batchnorm},
      {"optimizers", "momentum, Nesterov, AdaGrad, RMSProp and Adam beat plain SGD on the same budget",
       study_optimizers},
      {"transfer", "reused lower layers beat training from scratch when labels are few", study_transfer},
  };
  return kStudies;
}

void list_studies() {
  for (const Study& s : studies()) fmt::print("{:<14} {}\n", s.name, s.claim);
}

int run_study(const std::string& name, const StudyOptions& o) {
  const auto all = studies();
  const auto it = std::find_if(all.begin(), all.end(), [&](const Study& s) { return s.name == name; });
  if (it == all.end()) {
    std::string names;
    for (const Study& s : all) names += (names.empty() ? "" : ", ") + std::string(s.name);
    throw std::invalid_argument(fmt::format("unknown study '{}' (expected one of {}; --list says what each shows)",
                                            name, names));
  }
  set_num_threads(o.threads);
  const std::string out = o.out.empty() ? "studies/" + name + (o.quick ? "-quick" : "") : o.out;
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)) && !fs::exists(fs::path(out) / "results.json"))
    throw std::runtime_error(fmt::format("'{}' exists and is not a study folder (choose another --out)", out));
  fmt::print("study {}{}: {}\n", name, o.quick ? " (quick)" : "", it->claim);
  StudyReport report(name, it->claim, o.quick);
  it->run(report, o);
  report.print();
  fs::create_directories(out);
  const json j = report.to_json();
  write_file_atomic((fs::path(out) / "results.json").string(), j.dump(1) + "\n");
  write_study_page(j, (fs::path(out) / "report.html").string());
  fmt::print("\nresults: {}/results.json, page: {}/report.html\n", out, out);
  return 0;
}

}  // namespace gradflow::runs
