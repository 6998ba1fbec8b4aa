// Diagnostics: watch the signal flow through the layers while training, and say when it dies
// out, explodes or saturates — the lecture's central worry — with a cause and a remedy.
//
// Every `every` steps (a record), per layer:
//   Dense:      ‖W‖ (Frobenius), ‖∂L/∂W‖, update ratio ‖W_after − W_before‖ / ‖W_before‖
//   BatchNorm:  mean γ, mean β
//   every layer: mean and standard deviation of its output over the batch — z for a Dense or
//              BatchNorm, the activation a for an activation layer
//   ReLU family: the fraction of units that were zero for every sample seen since the last
//              record ("dead"; accumulated at every step, not only at records)
//   Sigmoid, Tanh: the fraction of outputs within 1% of an asymptote ("saturated")
// Warnings, each printed once per layer:
//   vanishing   the first Dense layer's gradient norm below vanishing_ratio (1e-3) × the last
//               one's, at two records in a row
//   exploding   through depth: the first Dense layer's gradient norm above exploding_ratio
//               (1e3) × the last one's, at two records in a row (the gradient grows as it flows
//               back, as in a deep tanh net under N(0,1)); or in time: a Dense layer's gradient
//               norm growing more than exploding_factor (10×) per interval, two intervals in a row
//   dead        more than dead_fraction (half) of a layer's units dead
//   saturated   more than saturated_fraction (half) of a layer's outputs saturated
// (Non-finite values stop training: see TrainOptions::stop_on_non_finite.)
#pragma once

#include <cstddef>
#include <functional>
#include <set>
#include <limits>
#include <string>
#include <vector>

#include "gradflow/trainer.h"

namespace gradflow {

struct LayerRecord {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  std::size_t index = 0;
  std::string name;
  LayerKind kind = LayerKind::Identity;
  double weight_norm = kNone, grad_norm = kNone, update_ratio = kNone;
  double out_mean = kNone, out_std = kNone;
  double dead = kNone, saturated = kNone;
  double gamma_mean = kNone, beta_mean = kNone;
};

// What Diagnostics records of layer i of `model`, from the model's last forward and backward
// pass (Mode::Train): the output's mean, std and, for saturating kinds, the fraction within 0.01
// of a bound; Dense: ‖W‖ and ‖∂L/∂W‖ (0 when frozen); BatchNorm: mean γ and β. `dead` and
// `update_ratio` need more than one pass (Diagnostics adds them) and stay kNone. The studies
// measure with it outside training.
LayerRecord layer_record(Sequential& model, std::size_t i);

struct DiagnosticsRecord {
  std::size_t step = 0;   // 1-based global step the record was taken at
  std::size_t epoch = 0;  // 1-based
  std::vector<LayerRecord> layers;
};

struct DiagnosticWarning {
  std::string kind;  // "vanishing", "exploding", "dead", "saturated"
  std::size_t layer = 0, epoch = 0, step = 0;
  std::string message;
};

struct DiagnosticsOptions {
  std::size_t every = 50;  // steps between records (and a record at the run's last step)
  double vanishing_ratio = 1e-3;
  double exploding_ratio = 1e3;
  double exploding_factor = 10;
  double dead_fraction = 0.5;
  double saturated_fraction = 0.5;
  // The training inputs' scale as the network sees them (input_scale(x)); 0: unknown. Above
  // kUnscaledInputs, dead or saturated units in the first layer name the inputs' scale as the
  // cause (--standardize), not the rate or the initializer.
  double input_scale = 0;
};

// max over features of |mean| + std: about 1 or less for standardized or [0, 1] inputs,
// several for raw measurements (iris in cm: 6.6). NaN values are skipped.
double input_scale(const Tensor& x);
inline constexpr double kUnscaledInputs = 3;

class Diagnostics final : public Callback {
 public:
  explicit Diagnostics(DiagnosticsOptions options = {});
  void on_train_begin(Trainer& t) override;
  void on_after_backward(Trainer& t, const StepInfo& s) override;
  void on_step_end(Trainer& t, const StepInfo& s) override;

  const std::vector<DiagnosticsRecord>& records() const { return records_; }
  const std::vector<DiagnosticWarning>& warnings() const { return warnings_; }
  // Called with every new record / warning (to write or print them as they come).
  std::function<void(const DiagnosticsRecord&)> on_record;
  std::function<void(const DiagnosticWarning&)> on_warning;

 private:
  bool sampled(const StepInfo& s) const {
    return (s.global_step + 1) % o_.every == 0 || (s.epoch == epochs_ && s.step + 1 == s.steps_per_epoch);
  }
  void check(Trainer& t, const DiagnosticsRecord& r);
  // A layer's dead or saturated units in one record, with their likely cause.
  struct Finding {
    std::string kind;
    std::size_t layer;
    LayerKind layer_kind;
    double fraction;
    std::string cause;
  };
  void warn_grouped(const Sequential& m, const DiagnosticsRecord& r, std::vector<Finding>& found);
  std::string dead_cause(const Sequential& m, std::size_t layer, double lr) const;
  std::string saturated_cause(const Sequential& m, std::size_t layer, const std::vector<const LayerRecord*>& dense) const;
  void warn(const std::string& kind, std::size_t layer, const DiagnosticsRecord& r, std::string message);

  DiagnosticsOptions o_;
  std::size_t layers_ = 0;  // layers that run in training (a fused output activation does not)
  std::size_t epochs_ = 0;  // of the run: its last step is always recorded
  std::vector<DiagnosticsRecord> records_;
  std::vector<DiagnosticWarning> warnings_;
  std::set<std::pair<std::string, std::size_t>> warned_;  // (kind, layer): each warned once
  std::vector<std::vector<unsigned char>> alive_;  // [layer][unit]: non-zero for some sample
  std::vector<std::size_t> dead_since_;             // epoch the layer was first seen mostly dead
  std::size_t vanishing_count_ = 0, growing_count_ = 0;  // records in a row
  Tensor before_;                                   // parameters before the sampled step's update
  DiagnosticsRecord pending_;
};

}  // namespace gradflow
