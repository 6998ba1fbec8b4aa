// Diagnostics: watch the signal flow through the layers while training, and say when it dies
// out, explodes or saturates — the lecture's central worry — with its most likely cause and a
// remedy.
//
// Every `every` steps (a record), per layer:
//   Dense:      ‖W‖ (Frobenius), ‖∂L/∂W‖, update ratio ‖W_after − W_before‖ / ‖W_before‖
//   BatchNorm:  mean γ, mean β
//   every layer: mean and standard deviation of its output over the batch — z for a Dense or
//              BatchNorm, the activation a for an activation layer
//   ReLU family: the fraction of units that were zero for every sample seen since the last
//              record ("dead"; accumulated at every step, not only at records)
//   Sigmoid, Tanh: the fraction of outputs within 1% of an asymptote ("saturated")
// The diagnosis: rules over the records, each warning once, one line for all the layers it hits,
// naming a cause (DiagnosticWarning::cause, one of the kCause… names) chosen by looking at what
// could explain it — frozen layers, the inputs' scale, each Dense layer's initializer and the
// activation it feeds, the direction of the gradient's change through depth, the batch size:
//   vanishing   the first trained Dense layer's gradient norm below vanishing_ratio (1e-3) × the
//               last one's, two records in a row: BatchNorm over a few rows, N(0,1) weights, else
//               saturating activations
//   exploding   through depth: above exploding_ratio (1e3) × the last one's, two records in a row
//               (N(0,1) weights, else too large an initial scale); in time: a Dense layer's
//               gradient norm growing more than exploding_factor (10×) per interval, two
//               intervals in a row, past every layer's norm before (the learning rate)
//   dead        more than dead_fraction (half) of a layer's units dead: a frozen layer, unscaled
//               inputs, N(0,1) weights, else the learning rate
//   saturated   more than saturated_fraction (half) of a layer's outputs saturated: N(0,1)
//               weights, unscaled inputs, a vanishing gradient, else the tails
//   selu        a SELU layer's output drifts from mean 0, std 1 (|mean| > 0.5 or std outside
//               [0.5, 2]): Dense weights not LeCun-normal (SELU's self-normalization needs them)
//   batchnorm   BatchNorm trained on batches of fewer than 8 rows: every unit's output is
//               nearly ±1 whatever the inputs (2 rows: exactly), and the running statistics
//               evaluation uses differ from the batch's
// A run that diverges stops with TrainingDiverged, whose cause divergence_cause() names.
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

// The causes a warning can name.
inline constexpr const char* kCauseLearningRate = "learning_rate";      // too large a step
inline constexpr const char* kCauseFrozen = "frozen";                   // reused weights that do not learn
inline constexpr const char* kCauseUnscaledInputs = "unscaled_inputs";  // --standardize
inline constexpr const char* kCauseNormalInit = "normal_init";          // N(0,1) weights, too large
inline constexpr const char* kCauseInitScale = "init_scale";            // another initializer, too large for the depth
inline constexpr const char* kCauseSaturatingActivation = "saturating_activation";  // sigmoid/tanh slopes < 1
inline constexpr const char* kCauseSeluInit = "selu_init";              // SELU without LeCun normal
inline constexpr const char* kCauseSmallBatch = "small_batch";          // BatchNorm over a few rows
inline constexpr const char* kCauseTails = "tails";                     // saturated, no cause above

struct DiagnosticWarning {
  std::string kind;   // "vanishing", "exploding", "dead", "saturated", "selu", "batchnorm"
  std::string cause;  // a kCause… name
  std::size_t layer = 0, epoch = 0, step = 0;  // the first layer it names
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

// Why training diverged (the trainer's TrainingDiverged says it): N(0,1) weights in a layer of
// many inputs, whose activations grow layer by layer (kCauseNormalInit), unless the learning
// rate is above 1; else the learning rate.
// The remedy, as a sentence, goes to `remedy`.
std::string divergence_cause(const Sequential& model, double lr, std::string* remedy);

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
  void check_depth(const Sequential& m, const DiagnosticsRecord& r, const std::vector<const LayerRecord*>& dense);
  void check_growth(const DiagnosticsRecord& r, const std::vector<const LayerRecord*>& dense, double lr);
  void check_selu(const Sequential& m, const DiagnosticsRecord& r);
  void check_batchnorm(const Sequential& m, const DiagnosticsRecord& r);
  // A layer's finding in one record, with its likely cause: grouped by (kind, cause, layer kind).
  struct Finding {
    std::string kind;
    std::size_t layer;
    LayerKind layer_kind;
    double value;  // the fraction (dead, saturated) or the output's std (selu)
    std::pair<std::string, std::string> cause;  // (kCause…, the sentence)
  };
  void warn_grouped(const Sequential& m, const DiagnosticsRecord& r, std::vector<Finding>& found);
  std::string unscaled_cause(bool first_layer) const;
  std::pair<std::string, std::string> dead_cause(const Sequential& m, std::size_t layer, double lr) const;
  std::pair<std::string, std::string> saturated_cause(const Sequential& m, std::size_t layer,
                                                      const std::vector<const LayerRecord*>& dense) const;
  void warn(const std::string& kind, const std::string& cause, std::size_t layer, const DiagnosticsRecord& r,
            std::string message);

  DiagnosticsOptions o_;
  std::size_t layers_ = 0;  // layers that run in training (a fused output activation does not)
  std::size_t epochs_ = 0;  // of the run: its last step is always recorded
  std::size_t batch_size_ = 0;
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
