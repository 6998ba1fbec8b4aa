// Reports and studies from Python (bind_report.cpp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bindings.h"
#include "gradflow/diagnostics.h"
#include "gradflow/trainer.h"

namespace gradflow::python {

// What gf.fit recorded, kept to draw its report: the files of a CLI run folder, in memory.
struct FitReport {
  std::vector<EpochMetrics> history;
  std::vector<double> lrs;                          // the learning rate of each epoch
  std::vector<std::vector<std::string>> warnings;  // the warnings of each epoch
  std::vector<DiagnosticsRecord> records;
  nlohmann::json config;  // the settings table
  nlohmann::json model;   // runs::model_record of the trained network
  void write(const std::string& path) const;
  std::string html() const;
};

struct StudyResult {
  py::object results;  // results.json, as Python objects
  std::string folder;
};

}  // namespace gradflow::python
