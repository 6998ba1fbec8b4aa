// Optimizers: update a model's parameters from the gradients of the last backward pass, with
// torch.optim's (1.13) definitions, so that the same weights, data order and settings follow
// the same trajectory as in PyTorch. g is the gradient, θ the parameter, t the step (1-based).
//
//   SGD       g ← g + wd·θ;  with momentum μ: b ← g (first step), else b ← μ·b + (1 − dampening)·g;
//             g ← nesterov ? g + μ·b : b;   θ ← θ − lr·g
//   Adagrad   g ← g + wd·θ;  s ← s + g²;  θ ← θ − lr/(1 + (t − 1)·lr_decay) · g / (√s + ε)
//   RMSprop   g ← g + wd·θ;  v ← α·v + (1 − α)·g²;  centered: m ← α·m + (1 − α)·g, d = √(v − m²) + ε,
//             else d = √v + ε;  momentum μ > 0: b ← μ·b + g/d, θ ← θ − lr·b;  else θ ← θ − lr·g/d
//   Adam      g ← g + wd·θ;  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  amsgrad: v̂ ← max(v̂, v)
//             θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
//   AdamW     θ ← θ·(1 − lr·wd) first (decoupled weight decay, Loshchilov & Hutter), then Adam, wd = 0
//   LBFGS     limited-memory BFGS with an optional strong-Wolfe line search (gradflow/lbfgs.h)
//
// Only trainable layers are updated; a frozen layer's parameters and state never change.
// State buffers are flat like the parameters, allocated on the first step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <functional>

#include "gradflow/hyperparameter.h"
#include "gradflow/sequential.h"
#include "gradflow/stateful.h"

namespace gradflow {

class Optimizer : public Stateful {
 public:
  explicit Optimizer(double lr);
  // One update of every trainable layer's parameters. Returns false when an updated value is
  // NaN or infinite (checked while the thread that wrote it still has it in cache).
  bool step(Sequential& model);
  double learning_rate() const { return lr_; }
  // The rate it was built with: what schedules start from (torch's "initial_lr").
  double initial_learning_rate() const { return initial_lr_; }
  // Schedules set the rate between steps.
  void set_learning_rate(double lr) { lr_ = lr; }
  // Scale the learning rate of layer i's parameters (default 1), e.g. smaller for reused layers.
  void set_layer_lr_scale(std::size_t layer, double scale);
  const std::vector<double>& layer_lr_scales() const { return layer_scale_; }
  virtual std::string_view name() const = 0;
  // The registered name it was made by and every hyper-parameter of that entry with the value
  // it was built with (make_optimizer's: make_optimizer(registered_name(), hyperparameters())
  // builds the same); name() and nothing for one constructed directly.
  std::string_view registered_name() const { return registered_.empty() ? name() : registered_; }
  const HyperparameterValues& hyperparameters() const { return hyperparameters_; }
  // Named state buffers (for checkpoints), each [1, num_params] or empty before the first step.
  virtual std::vector<std::pair<std::string, Tensor*>> state() { return {}; }
  // A quasi-Newton rule (LBFGS) evaluates the loss and gradients again at the points it tries;
  // the trainer then calls minimize() with `evaluate`, which computes them on the same batch
  // (torch.optim's closure), instead of step(). `loss` and the model's gradients are the
  // first evaluation's. Returns false when an updated value is not finite.
  virtual bool evaluates() const { return false; }
  virtual bool minimize(Sequential& model, double loss, const std::function<double()>& evaluate) {
    (void)loss, (void)evaluate;
    return step(model);
  }
  // Updates applied to each layer so far. As torch keeps a step count per parameter, a layer
  // that was frozen and is then unfrozen starts at step 1 (bias correction, momentum start).
  const std::vector<std::int64_t>& layer_steps() const { return layer_steps_; }
  void set_layer_steps(std::vector<std::int64_t> steps) { layer_steps_ = std::move(steps); }
  // The rate, the per-layer step counts and rate scales (the buffers: state()).
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;

 protected:
  friend std::unique_ptr<Optimizer> make_optimizer(std::string_view name, const HyperparameterValues& given);
  // Update θ[0, n) from g[0, n) at learning rate lr, the layer's step-th update (1-based);
  // `state_offset` indexes the flat state.
  virtual void update(float* theta, const float* grad, std::size_t n, std::size_t state_offset, double lr,
                      std::int64_t step) = 0;
  // Called before the first update of a step, with the model's parameter count.
  virtual void prepare(std::size_t num_params) { (void)num_params; }
  double lr_, initial_lr_;
  std::string_view registered_;
  HyperparameterValues hyperparameters_;
  std::vector<std::int64_t> layer_steps_;
  std::vector<double> layer_scale_;
  std::vector<double> layer_lr_;  // per step: lr · layer scale
};

struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
class SGD final : public Optimizer {
 public:
  explicit SGD(double lr) : SGD(SGDOptions{.lr = lr}) {}
  explicit SGD(const SGDOptions& o);
  std::string_view name() const override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  void prepare(std::size_t n) override;
  void update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) override;
  SGDOptions o_;
  Tensor buf_;
};

struct AdagradOptions {
  double lr = 0.01, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
};
class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(const AdagradOptions& o);
  std::string_view name() const override { return "adagrad"; }
  std::vector<std::pair<std::string, Tensor*>> state() override { return {{"sum", &sum_}}; }

 private:
  void prepare(std::size_t n) override;
  void update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) override;
  AdagradOptions o_;
  Tensor sum_;
};

struct RMSpropOptions {
  double lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};
class RMSprop final : public Optimizer {
 public:
  explicit RMSprop(const RMSpropOptions& o);
  std::string_view name() const override { return "rmsprop"; }
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  void prepare(std::size_t n) override;
  void update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) override;
  RMSpropOptions o_;
  Tensor square_avg_, grad_avg_, buf_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false;
  bool decoupled = false;  // AdamW
};
class Adam : public Optimizer {
 public:
  explicit Adam(const AdamOptions& o);
  std::string_view name() const override { return o_.decoupled ? "adamw" : "adam"; }
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  void prepare(std::size_t n) override;
  void update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) override;
  AdamOptions o_;
  Tensor exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};
// AdamW: Adam with decoupled weight decay, default 1e-2 as torch.optim.AdamW.
struct AdamWOptions : AdamOptions {
  constexpr AdamWOptions() {
    weight_decay = 1e-2;
    decoupled = true;
  }
};
class AdamW final : public Adam {
 public:
  explicit AdamW(const AdamWOptions& o) : Adam(o) {}
};

// ---- The registered optimizers (the table: src/train/optimizer_kinds.cpp) ----
// Each entry names the optimizer for the command line and config.json, its torch.optim class,
// its hyper-parameters with their defaults (the Options structs' above: PyTorch's) and ranges,
// and its factory. To add an optimizer: its class with its update above, one entry, and its
// golden test (tools/golden/make_optim_golden.py); the CLI's options follow from the entry.
struct OptimizerKind {
  std::string_view name;         // "adamw"
  std::string_view torch_class;  // "AdamW"
  std::string_view summary;      // one line for --help
  std::span<const Hyperparameter> params;  // "lr" first
  // Builds it from values that resolve_hyperparameters completed against `params`.
  std::unique_ptr<Optimizer> (*make)(const HyperparameterValues& values);
};

std::span<const OptimizerKind> optimizer_kinds();
// Throws std::invalid_argument naming the registered optimizers.
const OptimizerKind& optimizer_kind(std::string_view name);
// The optimizer `name` with the hyper-parameters given and the rest at its defaults; throws
// std::invalid_argument for an unknown name, a hyper-parameter it does not take, or a value out
// of range. make_optimizer("adamw") is torch.optim.AdamW with its default arguments.
std::unique_ptr<Optimizer> make_optimizer(std::string_view name, const HyperparameterValues& given = {});

}  // namespace gradflow
