// Learning-rate schedules, epoch by epoch, as torch.optim.lr_scheduler (1.13) defines them.
// lr(e) is the rate used during epoch e (0-based); base is the optimizer's initial rate.
//
//   constant      lr(e) = base
//   step          lr(e) = base · γ^⌊e / step_size⌋                          (StepLR)
//   exponential   lr(e) = base · γ^e                                         (ExponentialLR)
//   cosine        lr(e) = η_min + (base − η_min)·(1 + cos(π·e / T_max)) / 2  (CosineAnnealingLR)
//   warm-up       the first W epochs: lr(e) = base·(s + (1 − s)·e / W), s = start factor (LinearLR),
//                 then the schedule above evaluated at e − W (SequentialLR with milestone W)
//   plateau       ReduceLROnPlateau (mode min, relative threshold): after more than `patience`
//                 epochs without the monitored loss improving on its best by a factor
//                 (1 − threshold), lr ← max(lr·factor, min_lr), then `cooldown` epochs of rest
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "gradflow/hyperparameter.h"

namespace gradflow {

struct ScheduleOptions {
  enum class Kind { Constant, Step, Exponential, Cosine, Plateau } kind = Kind::Constant;
  std::size_t step_size = 10;  // step
  double gamma = 0.1;          // step, exponential
  std::size_t t_max = 10;      // cosine: epochs to reach eta_min
  double eta_min = 0;          // cosine
  std::size_t warmup = 0;      // linear warm-up epochs (any kind but plateau)
  double warmup_start = 1.0 / 3.0;  // LinearLR's default start_factor
  // plateau
  double factor = 0.1, threshold = 1e-4, min_lr = 0;
  std::size_t patience = 10, cooldown = 0;
};

class Schedule {
 public:
  Schedule(double base_lr, const ScheduleOptions& o);
  // The rate for epoch e (0-based); for plateau, the current rate.
  double lr(std::size_t epoch) const;
  // Plateau: report the monitored loss at the end of an epoch; returns the new rate.
  double observe(double loss);
  const ScheduleOptions& options() const { return o_; }

  // Plateau state, for checkpoints.
  struct PlateauState {
    double lr = 0, best = std::numeric_limits<double>::infinity();
    std::size_t bad_epochs = 0, cooldown_left = 0;
  };
  const PlateauState& plateau_state() const { return p_; }
  void set_plateau_state(const PlateauState& s) { p_ = s; }

 private:
  double base_;
  ScheduleOptions o_;
  PlateauState p_;
};

// ---- The registered schedules (the table: src/train/schedule.cpp) ----
// Written NAME[:ARG[:ARG…]], the arguments in the order of `params`: "step:10:0.5". To add a
// schedule: its Kind and its lr() formula above, and one entry.
struct ScheduleKind {
  std::string_view name;         // "cosine"
  std::string_view torch_class;  // "CosineAnnealingLR"; "" for none
  ScheduleOptions::Kind kind;
  std::span<const Hyperparameter> params;  // in the order they are written
  std::size_t required;                    // the first `required` must be written
  // Sets the options from values completed with the defaults; `epochs` is the run's after the
  // warm-up (cosine's T_max defaults to it).
  void (*apply)(ScheduleOptions& o, const HyperparameterValues& values, std::size_t epochs);
};
std::span<const ScheduleKind> schedule_kinds();
// The accepted forms, for help and messages: "none | step:STEP_SIZE[:GAMMA] | …".
std::string schedule_forms(std::string_view separator = " | ");

// "none" (or "constant"), "step:STEP_SIZE[:GAMMA]", "exponential:GAMMA",
// "cosine[:T_MAX[:ETA_MIN]]", "plateau[:PATIENCE[:FACTOR[:THRESHOLD[:COOLDOWN[:MIN_LR]]]]]"; T_MAX
// defaults to `epochs` minus the warm-up. Throws std::invalid_argument with the accepted forms.
ScheduleOptions parse_schedule(const std::string& text, std::size_t epochs, std::size_t warmup);

}  // namespace gradflow
