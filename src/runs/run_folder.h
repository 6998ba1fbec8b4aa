// RunFolder: every file of a training run — its name, its format, and how it is written and
// read back (by train, resume, report and compare). Nothing else names a run's files.
//
//   config.json                  the resolved configuration (Recipe; `out`/`resume` cleared)
//   metrics.jsonl                a record per epoch: epoch, train_loss, train_acc, val_loss,
//                                val_acc, test_loss, test_acc, lr, seconds[, warnings]
//   diagnostics.jsonl            a record per diagnostics step: step, epoch, layers[…]
//   model.safetensors            the model (for eval, predict, --init-from)
//   checkpoint_last.safetensors  the model and the training state (RunCheckpoints)
//   checkpoint_best.safetensors  the best epoch's model by validation loss
//   confusion.json               the test set's confusion matrix: classes, names, matrix
//   report.html                  the report page
//   status.json                  how the run ended: finished, diverged or interrupted, and why
//   .lock                        held by the process writing the folder (RunLock)
//
// Records are appended a whole line at a time; a line cut short by a kill is not a record.
// Every other file is written atomically (temporary file + rename).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runs/recipe.h"
#include "gradflow/diagnostics.h"
#include "gradflow/trainer.h"

namespace gradflow::runs {

// The records a run folder's metrics.jsonl and diagnostics.jsonl hold, one line each: what the
// report draws, also from records kept in memory (Python's fit).
nlohmann::ordered_json metrics_record(const EpochMetrics& m, double lr, const std::vector<std::string>& warnings);
nlohmann::ordered_json diagnostics_record(const DiagnosticsRecord& r);

class RunFolder {
 public:
  explicit RunFolder(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  std::string config() const { return file("config.json"); }
  std::string metrics() const { return file("metrics.jsonl"); }
  std::string diagnostics() const { return file("diagnostics.jsonl"); }
  std::string model() const { return file("model.safetensors"); }
  std::string checkpoint_last() const { return file("checkpoint_last.safetensors"); }
  std::string checkpoint_best() const { return file("checkpoint_best.safetensors"); }
  std::string confusion() const { return file("confusion.json"); }
  std::string report() const { return file("report.html"); }
  std::string status() const { return file("status.json"); }
  std::string lock() const { return file(".lock"); }

  // ---- writing ----
  void write_config(const Recipe& c) const;
  // metrics.jsonl exists from the start (empty), so that a run stopped in its first epoch is
  // still a folder report and compare can read.
  void create_metrics() const;
  // Every record is one line written whole or not at all (a write cut short by a full disk is
  // taken back), and on disk before the call returns: a checkpoint is never ahead of the records
  // before it, and a log never ends in half a line.
  void append_metrics(const EpochMetrics& m, double lr, const std::vector<std::string>& warnings) const;
  // diagnostics.jsonl: started empty, or kept when resuming.
  void open_diagnostics(bool append) const;
  void append_diagnostics(const DiagnosticsRecord& r) const;
  void write_confusion(const Evaluation& ev, const std::vector<std::string>& names) const;
  // state: "finished", "diverged" or "interrupted"; message: what the command said.
  void write_status(const std::string& state, const std::string& message) const;
  // Resuming: the records past the checkpoint (epochs after `epoch`, steps after `step`) belong
  // to work that is about to be redone; a line cut short goes too.
  void keep_records_up_to(std::size_t epoch, std::size_t step) const;

  // ---- reading (JSON; a missing optional file is null / an empty list) ----
  nlohmann::json read_config() const;
  nlohmann::json read_metrics() const;  // throws when metrics.jsonl is missing: not a run folder
  nlohmann::json read_diagnostics() const;
  nlohmann::json read_confusion() const;
  nlohmann::json read_status() const;  // null while running, or for a run killed outright
  // Whether a process holds the folder's lock now (a run under way).
  bool locked() const;
  // The records of the last `max_bytes` of metrics.jsonl / diagnostics.jsonl (all of a smaller
  // file), every k-th when there are more than `max_records` (the last always kept): what a
  // live view reads of a file that may be large and still growing.
  nlohmann::json read_metrics_tail(std::size_t max_bytes, std::size_t max_records = 0) const;
  nlohmann::json read_diagnostics_tail(std::size_t max_bytes, std::size_t max_records = 0) const;
  // What a live view holds of a records file: where its records end, how many it has, and which
  // file that was (its inode and the run's config.json time: a new or resumed run writes both).
  struct Held {
    std::size_t end = 0, count = 0;
    std::uint64_t id = 0;
  };
  struct Since {
    nlohmann::json records;
    bool appended = false;  // records follow what was held; else they replace it
    Held held;              // what the view holds after taking them
  };
  // The records a view holding `held` lacks: those after held.end, when the file is the one held,
  // at most max_records are new and the view would hold at most 2 × max_records; else the tail as
  // read_*_tail reads it. A view's update then costs what is new, not the whole run.
  Since read_metrics_since(const Held& held, std::size_t max_bytes, std::size_t max_records) const;
  Since read_diagnostics_since(const Held& held, std::size_t max_bytes, std::size_t max_records) const;

 private:
  std::string file(const char* name) const;
  Since read_since(const std::string& path, const Held& held, std::size_t max_bytes, std::size_t max_records) const;
  std::string dir_;
};

// Keeps the records of a JSON-lines file whose `key` is at most `last`; drops a last line cut short.
void keep_records(const std::string& path, const std::string& key, std::size_t last);

}  // namespace gradflow::runs
