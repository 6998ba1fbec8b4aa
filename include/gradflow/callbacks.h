// Ready-made trainer callbacks: learning-rate schedules, gradient clipping, early stopping.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>

#include "gradflow/schedule.h"
#include "gradflow/trainer.h"

namespace gradflow {

// clip_grad_norm_ (PyTorch): the global L2 norm N of all trainable gradients; every gradient is
// multiplied by min(1, max_norm / (N + 1e-6)). Returns N (before clipping).
double clip_grad_norm(Sequential& model, double max_norm);
// clip_grad_value_ (PyTorch): every trainable gradient clamped to [−v, v].
void clip_grad_value(Sequential& model, double value);

// Clips after every backward pass, before the optimizer step. Either or both limits.
class GradientClipping final : public Callback {
 public:
  GradientClipping(std::optional<double> max_norm, std::optional<double> max_value);
  void on_after_backward(Trainer& t, const StepInfo&) override;

 private:
  std::optional<double> norm_, value_;
};

// Sets the optimizer's rate at the start of every epoch; the plateau schedule watches the test
// loss (the training loss when there is no test set).
class LrScheduler final : public Callback {
 public:
  explicit LrScheduler(Schedule schedule) : schedule_(std::move(schedule)) {}
  void on_epoch_begin(Trainer& t, std::size_t epoch) override;
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override;
  Schedule& schedule() { return schedule_; }

 private:
  Schedule schedule_;
};

// Stops when the monitored loss (test, else train) has not improved for `patience` epochs,
// and restores the model to its best epoch at the end of training.
class EarlyStopping final : public Callback {
 public:
  explicit EarlyStopping(std::size_t patience, double min_delta = 0) : patience_(patience), min_delta_(min_delta) {}
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override;
  void on_train_end(Trainer& t) override;
  std::size_t best_epoch() const { return best_epoch_; }
  double best_loss() const { return best_; }
  bool stopped_early() const { return stopped_; }

 private:
  std::size_t patience_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  std::size_t best_epoch_ = 0, bad_ = 0;
  bool stopped_ = false;
  std::optional<Sequential::State> best_state_;
};

}  // namespace gradflow
