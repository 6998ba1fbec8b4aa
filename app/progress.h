// Live progress of `gradflow train`, as a trainer callback: on a terminal a progress bar per
// epoch (samples/s, ETA, running loss) redrawn in place; otherwise a plain line every few
// seconds. After each epoch one table row, and the record appended to the run's metrics.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gradflow/trainer.h"
#include "runs/run_folder.h"

namespace gradflow::app {

// The tool speaks the runs component's names (src/runs/: recipes, run folders, reports, studies).
using namespace gradflow::runs;

class Progress final : public Callback {
 public:
  // with_val: the table has validation columns (the records always have the keys, null
  // without). folder: where the records go (none: only the table).
  Progress(std::size_t epochs, std::size_t samples_per_epoch, const RunFolder* folder, bool with_val = false);
  void on_train_begin(Trainer&) override;
  void on_epoch_begin(Trainer&, std::size_t epoch) override;
  void on_step_end(Trainer&, const StepInfo& s) override;
  void on_epoch_end(Trainer&, const EpochMetrics& m) override;
  // Print a warning on its own line now, and record it in this epoch's metrics row.
  void warn(const std::string& message);

 private:
  using Clock = std::chrono::steady_clock;
  void draw(const StepInfo& s);
  std::size_t epochs_, samples_;
  const RunFolder* folder_;
  bool tty_, with_val_;
  Clock::time_point epoch_start_, last_draw_;
  std::size_t seen_ = 0;
  double loss_sum_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace gradflow::app
