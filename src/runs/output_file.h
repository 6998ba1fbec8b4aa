// Where a command writes a single file (report, compare, export, import): an existing file is
// replaced only when it is what the command itself writes there — a page gradflow drew, for
// report and compare — or when the user says so (--force). Anything else is refused, naming the
// file, before any work: `report RUN --out iris.csv` once replaced the data with HTML, and
// `import m.onnx --out iris.csv` with safetensors. A run folder is protected by train itself.
#pragma once

#include <string>

namespace gradflow::runs {

enum class OutputKind {
  Page,   // an HTML page of gradflow's (report.h's pages carry kPageGenerator): may be redrawn
  Model,  // a model file (.safetensors, .onnx): never replaced without --force (it may be the only copy)
};

// The mark in every page gradflow draws (<meta name="generator" …>).
inline constexpr const char* kPageGenerator = "<meta name=\"generator\" content=\"gradflow\">";

// Throws std::runtime_error when `path` exists and may not be replaced: "FILE exists and is not
// … (pass --force to replace it)".
void check_output(const std::string& path, OutputKind kind, bool force);

}  // namespace gradflow::runs
