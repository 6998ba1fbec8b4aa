// gradflow study: the experiments behind the lecture's claims, one command each.
//
// A study runs with fixed seeds, prints its table and whether each claim held, and writes
// into its folder results.json (every number of the table and the plots, the settings and the
// seeds) and report.html (the charts, each with a sentence saying what it shows). --quick is
// the seconds-long form the tests run; the full form takes at most a few minutes on 2 cores.
#pragma once

#include <array>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gradflow::runs {

struct StudyOptions {
  bool quick = false;
  std::string out;  // "" : studies/<name>
  int threads = 0;
};

// A line chart's axes: logarithmic y and/or x.
struct ChartOptions {
  bool log = false, xlog = false;
};

// What a study found, built up as it runs; results.json is to_json().
class StudyReport {
 public:
  StudyReport(std::string name, std::string question, bool quick);
  // A setting of the experiment (sizes, rates, seeds): the page's settings table.
  void setting(const std::string& key, nlohmann::json value) { settings_[key] = std::move(value); }
  void columns(std::vector<std::string> names) { columns_ = std::move(names); }
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  struct Series {
    std::string label;
    std::vector<double> values;
    bool dashed = false;
  };
  void line_chart(std::string title, std::string xlabel, std::string ylabel, std::vector<double> x,
                  std::vector<Series> series, std::string caption, ChartOptions options = {});
  // A classifier's decisions over [x0, x1] × [y0, y1]: nx·ny classes row by row from y0, and
  // the data points (x, y, class).
  void regions_chart(std::string title, double x0, double x1, double y0, double y1, std::size_t nx, std::size_t ny,
                     std::vector<int> cells, std::vector<std::array<double, 3>> points, std::string caption);
  // A claim and whether it held. `expected`: whether the study expects it to hold — false for
  // a textbook claim the measurement contradicts (the tests check held == expected).
  void claim(std::string text, bool held, bool expected = true);
  void finding(std::string text) { finding_ = std::move(text); }
  // Every other number worth keeping (per-layer series, …).
  nlohmann::json& numbers() { return numbers_; }
  nlohmann::json to_json() const;
  // The table and the claims, for the terminal.
  void print() const;

 private:
  std::string name_, question_, finding_;
  bool quick_;
  nlohmann::json settings_ = nlohmann::json::object(), numbers_ = nlohmann::json::object();
  nlohmann::json charts_ = nlohmann::json::array(), claims_ = nlohmann::json::array();
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

struct Study {
  const char* name;
  const char* claim;  // the lecture's claim it puts to the test, one line
  void (*run)(StudyReport& report, const StudyOptions& options);
};

std::span<const Study> studies();
// Runs one study: prints, writes results.json and report.html into its folder. Returns 0.
int run_study(const std::string& name, const StudyOptions& options);
// The list, a line each.
void list_studies();

}  // namespace gradflow::runs
