// report.html: one self-contained page (uPlot and the data inlined; opens offline) showing a
// run — loss and accuracy curves, learning rate, per-layer gradient norms (log scale), update
// ratios, activation and pre-activation statistics, dead and saturated fractions, BatchNorm's
// γ and β, the warnings, the configuration and the confusion matrix — or several runs on the
// same plots (`gradflow compare`).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradflow/sequential.h"

namespace gradflow::runs {

// A run's records, as its folder holds them (run_folder.h): config.json, the metrics.jsonl and
// diagnostics.jsonl lines as arrays, confusion.json (null when absent).
struct RunRecords {
  std::string name;
  nlohmann::json config, metrics = nlohmann::json::array(), diagnostics = nlohmann::json::array(), confusion;
  nlohmann::json model;  // {"summary", "parameters"} of the trained network (model_record); null when unknown
};
// What the headline says of a network.
nlohmann::json model_record(const Sequential& network);
// A run folder's records. Throws std::runtime_error naming a missing or bad file.
RunRecords read_run(const std::string& folder);
// The page for one run or several compared, from records in memory.
std::string report_html(const std::vector<RunRecords>& runs);
// The page's parts: the charts' data (drawn by the page's gradflowDrawRuns) and the HTML of the
// headline, the warnings, the configuration and the confusion matrix — what the board serves.
struct ReportView {
  nlohmann::json data;
  std::string headline, warnings, config, confusion;
};
ReportView report_view(std::vector<RunRecords> runs);
// A page of the shared style and chart code (uPlot, gradflowCharts, gradflowDrawRuns) around
// `body`, with `data` as JSON in #gradflow-data and `script` run last.
std::string chart_page(const std::string& title, const std::string& body, const nlohmann::json& data,
                       const std::string& script);
// Reads each run folder and writes its page atomically to out.
void write_report(const std::vector<std::string>& runs, const std::string& out);

// A study's page (gradflow study): its question, its claims and whether each held, the table,
// every chart with the sentence that says what it shows, and the settings. `study` is the
// study's results.json.
void write_study_page(const nlohmann::json& study, const std::string& out);

}  // namespace gradflow::runs
