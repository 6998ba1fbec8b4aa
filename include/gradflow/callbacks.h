// Ready-made trainer callbacks: learning-rate schedules, gradient clipping, early stopping.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gradflow/schedule.h"
#include "gradflow/stateful.h"
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

// Sets the optimizer's rate at the start of every epoch; the plateau schedule watches the
// validation loss (the training loss when there is no validation set; never the test loss).
// The schedule starts from the optimizer's initial rate (one source of truth for the rate).
class LrScheduler final : public Callback, public Stateful {
 public:
  // Throws std::invalid_argument for options no schedule accepts (checked now, not at the start).
  explicit LrScheduler(ScheduleOptions options);
  void on_train_begin(Trainer& t) override;
  void on_epoch_begin(Trainer& t, std::size_t epoch) override;
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override;
  const ScheduleOptions& options() const { return options_; }
  // The plateau schedule's state (the others are functions of the epoch).
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;

 private:
  ScheduleOptions options_;
  std::optional<Schedule> schedule_;     // built at the start of training, from the optimizer
  std::optional<Schedule::PlateauState> loaded_;  // restored before the schedule exists
};

// Stops when the monitored loss (validation, else train; EpochMetrics::monitored_loss) has not
// improved for `patience` epochs,
// and restores the model to its best epoch at the end of training.
class EarlyStopping final : public Callback, public Stateful {
 public:
  explicit EarlyStopping(std::size_t patience, double min_delta = 0) : patience_(patience), min_delta_(min_delta) {}
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override;
  void on_train_end(Trainer& t) override;
  std::size_t best_epoch() const { return best_epoch_; }
  double best_loss() const { return best_; }
  std::size_t bad_epochs() const { return bad_; }
  bool stopped_early() const { return stopped_; }
  // The best loss and epoch so far and the epochs since; the best epoch's model travels apart
  // (a checkpoint keeps it as a model file): set_best_state() restores it.
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;
  void set_best_state(Sequential::State best_state) { best_state_ = std::move(best_state); }

 private:
  std::size_t patience_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  std::size_t best_epoch_ = 0, bad_ = 0;
  bool stopped_ = false;
  std::optional<Sequential::State> best_state_;
};

// Transfer learning: a model's "blocks" are its Dense layers, each with the layers after it up to
// the next Dense (BatchNorm, activation, Dropout). Freezing a block freezes all its layers; a
// frozen BatchNorm runs on its running statistics and leaves them unchanged (Keras' rule), so
// frozen layers stay bit for bit the same.
std::size_t count_blocks(const Sequential& model);
// Freeze the first n blocks, make the others trainable.
void freeze_blocks(Sequential& model, std::size_t n);
// Copy parameters and buffers of the lowest layers of `from` into `to` while the layers match
// (same kind, same shapes); returns how many layers were copied.
std::size_t copy_matching_layers(Sequential& to, Sequential& from);

// Staged unfreezing, from the top down: stage (epoch e, n) keeps the first n blocks frozen from
// epoch e on. Layers unfrozen after the start get their learning rate scaled by lr_scale.
class StagedUnfreezing final : public Callback, public Stateful {
 public:
  struct Stage {
    std::size_t epoch, frozen;
  };
  StagedUnfreezing(std::vector<Stage> stages, double lr_scale = 1.0);
  // `frozen` blocks at first, one more unfrozen (the highest frozen one) every `every` epochs.
  static std::vector<Stage> every(std::size_t frozen, std::size_t every);
  void on_train_begin(Trainer& t) override;
  void on_epoch_begin(Trainer& t, std::size_t epoch) override;
  std::size_t frozen_now() const { return current_; }
  // The blocks frozen now; restored, they are frozen again when training starts.
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;

 private:
  std::vector<Stage> stages_;
  double lr_scale_;
  std::size_t current_ = static_cast<std::size_t>(-1);
};

}  // namespace gradflow
