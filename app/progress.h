// Live progress of `gradflow train`, as a trainer callback: on a terminal a progress bar per
// epoch (samples/s, ETA, running loss) redrawn in place; otherwise a plain line every few
// seconds. After each epoch one table row, and the row appended to metrics.jsonl.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gradflow/trainer.h"

namespace gradflow::app {

class Progress final : public Callback {
 public:
  // with_val: the table has validation columns (metrics.jsonl always has the keys, null without).
  Progress(std::size_t epochs, std::size_t samples_per_epoch, std::string metrics_path, bool with_val = false);
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
  std::string metrics_path_;
  bool tty_, with_val_;
  Clock::time_point epoch_start_, last_draw_;
  std::size_t seen_ = 0;
  double loss_sum_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace gradflow::app
