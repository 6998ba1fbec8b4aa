// report.html: one self-contained page (uPlot and the data inlined; opens offline) showing a
// run — loss and accuracy curves, learning rate, per-layer gradient norms (log scale), update
// ratios, activation and pre-activation statistics, dead and saturated fractions, BatchNorm's
// γ and β, the warnings, the configuration and the confusion matrix — or several runs on the
// same plots (`gradflow compare`).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gradflow::app {

// Reads each run folder (config.json, metrics.jsonl, diagnostics.jsonl, confusion.json) and
// writes the page atomically to out. Throws std::runtime_error naming a missing or bad file.
void write_report(const std::vector<std::string>& runs, const std::string& out);

// A study's page (gradflow study): its question, its claims and whether each held, the table,
// every chart with the sentence that says what it shows, and the settings. `study` is the
// study's results.json.
void write_study_page(const nlohmann::json& study, const std::string& out);

}  // namespace gradflow::app
