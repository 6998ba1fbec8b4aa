// The optimizers, one registration each (see OptimizerKind in gradflow/optimizer.h). Defaults
// come from the Options structs, which hold PyTorch's; ranges are what torch.optim accepts
// (a learning rate must be positive here: 0 would train nothing).
#include <array>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

#include "gradflow/lbfgs.h"
#include "gradflow/optimizer.h"

namespace gradflow {

namespace {

using T = Hyperparameter::Type;
// "momentum" and "nesterov": SGD with momentum, whose point is a momentum: 0.9 unless given.
constexpr double kMomentum = 0.9;

constexpr Hyperparameter lr(double d) { return {"lr", T::Real, d, 0, kUnbounded, true, false, "lr", "learning rate"}; }
constexpr Hyperparameter weight_decay(double d, std::string_view help) {
  return {"weight_decay", T::Real, d, 0, kUnbounded, false, false, "weight_decay", help};
}
constexpr Hyperparameter eps(double d) {
  return {"eps", T::Real, d, 0, kUnbounded, false, false, "eps", "term added to the denominator"};
}
constexpr Hyperparameter momentum(double d, std::string_view torch_name) {
  return {"momentum", T::Real, d, 0, kUnbounded, false, false, torch_name, "momentum factor"};
}
constexpr const char* kL2 = "weight decay: an L2 penalty added to the gradient (adamw: decoupled)";

constexpr SGDOptions kSgd{};
constexpr std::array kSgdParams{
    lr(kSgd.lr), momentum(kSgd.momentum, "momentum"),
    Hyperparameter{"dampening", T::Real, kSgd.dampening, 0, 1, false, false, "dampening", "dampening for momentum"},
    weight_decay(kSgd.weight_decay, kL2),
    Hyperparameter{"nesterov", T::Flag, 0, 0, 1, false, false, "nesterov", "Nesterov momentum"}};
// torch.optim.SGD's momentum defaults to 0: these names exist to mean 0.9.
constexpr std::array kMomentumParams{
    lr(kSgd.lr), momentum(kMomentum, ""),
    Hyperparameter{"dampening", T::Real, kSgd.dampening, 0, 1, false, false, "dampening", "dampening for momentum"},
    weight_decay(kSgd.weight_decay, kL2)};

constexpr AdagradOptions kAdagrad{};
constexpr std::array kAdagradParams{
    lr(kAdagrad.lr),
    Hyperparameter{"lr_decay", T::Real, kAdagrad.lr_decay, 0, kUnbounded, false, false, "lr_decay", "learning-rate decay"},
    weight_decay(kAdagrad.weight_decay, kL2),
    Hyperparameter{"initial_accumulator_value", T::Real, kAdagrad.initial_accumulator_value, 0, kUnbounded, false, false,
                   "initial_accumulator_value", "starting value of the sum of squares"},
    eps(kAdagrad.eps)};

constexpr RMSpropOptions kRmsprop{};
constexpr std::array kRmspropParams{
    lr(kRmsprop.lr),
    Hyperparameter{"alpha", T::Real, kRmsprop.alpha, 0, 1, false, false, "alpha", "smoothing constant"},
    eps(kRmsprop.eps), weight_decay(kRmsprop.weight_decay, kL2), momentum(kRmsprop.momentum, "momentum"),
    Hyperparameter{"centered", T::Flag, 0, 0, 1, false, false, "centered",
                   "normalize by the gradient's estimated variance"}};

constexpr Hyperparameter beta(const char* name, const char* torch_name, double d, const char* help) {
  return {name, T::Real, d, 0, 1, false, true, torch_name, help};
}
constexpr std::array<Hyperparameter, 6> adam_params(const AdamOptions& o, const char* decay_help) {
  return std::array{lr(o.lr), beta("beta1", "betas[0]", o.beta1, "decay of the gradient's moving average"),
                    beta("beta2", "betas[1]", o.beta2, "decay of the squared gradient's moving average"), eps(o.eps),
                    weight_decay(o.weight_decay, decay_help),
                    Hyperparameter{"amsgrad", T::Flag, 0, 0, 1, false, false, "amsgrad", "the AMSGrad variant"}};
}
constexpr auto kAdamParams = adam_params(AdamOptions{}, kL2);
constexpr auto kAdamWParams = adam_params(AdamWOptions{}, "decoupled weight decay: θ ← θ·(1 − lr·wd) each step");

constexpr LBFGSOptions kLbfgs{};
constexpr std::array kLbfgsParams{
    Hyperparameter{"lr", T::Real, kLbfgs.lr, 0, kUnbounded, true, false, "lr", "step length (scaled at the first iteration)"},
    Hyperparameter{"max_iter", T::Whole, 20, 1, kUnbounded, false, false, "max_iter", "iterations per step"},
    Hyperparameter{"max_eval", T::Whole, 0, 0, kUnbounded, false, false, "max_eval",
                   "evaluations per step (0: max_iter·5/4, torch's None)"},
    Hyperparameter{"tolerance_grad", T::Real, kLbfgs.tolerance_grad, 0, kUnbounded, false, false, "tolerance_grad",
                   "stop when max|g| is at most this"},
    Hyperparameter{"tolerance_change", T::Real, kLbfgs.tolerance_change, 0, kUnbounded, false, false,
                   "tolerance_change", "stop when the loss or the step changes less than this"},
    Hyperparameter{"history_size", T::Whole, 100, 1, kUnbounded, false, false, "history_size",
                   "(y, s) pairs kept"},
    Hyperparameter{"strong_wolfe", T::Flag, 0, 0, 1, false, false, "line_search_fn",
                   "a strong-Wolfe line search (torch's line_search_fn='strong_wolfe'; false: None)"},
    Hyperparameter{"weight_decay", T::Real, 0, 0, kUnbounded, false, false, "",
                   "an L2 term wd/2·‖θ‖² in the objective (gradflow's own: torch's LBFGS has none)"}};

bool flag(const HyperparameterValues& v, const char* name) { return v.at(name) != 0; }

std::unique_ptr<Optimizer> make_sgd(const HyperparameterValues& v, bool nesterov) {
  return std::make_unique<SGD>(SGDOptions{.lr = v.at("lr"), .momentum = v.at("momentum"),
                                          .dampening = v.at("dampening"), .weight_decay = v.at("weight_decay"),
                                          .nesterov = nesterov});
}

std::unique_ptr<Optimizer> make_adam(const HyperparameterValues& v, AdamOptions o) {
  o.lr = v.at("lr"), o.beta1 = v.at("beta1"), o.beta2 = v.at("beta2"), o.eps = v.at("eps");
  o.weight_decay = v.at("weight_decay"), o.amsgrad = flag(v, "amsgrad");
  return std::make_unique<Adam>(o);
}

const std::array<OptimizerKind, 8> kOptimizers = {{
    {"sgd", "SGD", "stochastic gradient descent (with momentum when given one)", kSgdParams,
     [](const HyperparameterValues& v) { return make_sgd(v, flag(v, "nesterov")); }},
    {"momentum", "SGD", "SGD with momentum (0.9 unless given)", kMomentumParams,
     [](const HyperparameterValues& v) { return make_sgd(v, false); }},
    {"nesterov", "SGD", "SGD with Nesterov momentum (0.9 unless given)", kMomentumParams,
     [](const HyperparameterValues& v) { return make_sgd(v, true); }},
    {"adagrad", "Adagrad", "Adagrad", kAdagradParams,
     [](const HyperparameterValues& v) -> std::unique_ptr<Optimizer> {
       return std::make_unique<Adagrad>(AdagradOptions{.lr = v.at("lr"), .lr_decay = v.at("lr_decay"),
                                                       .weight_decay = v.at("weight_decay"),
                                                       .initial_accumulator_value = v.at("initial_accumulator_value"),
                                                       .eps = v.at("eps")});
     }},
    {"rmsprop", "RMSprop", "RMSprop", kRmspropParams,
     [](const HyperparameterValues& v) -> std::unique_ptr<Optimizer> {
       return std::make_unique<RMSprop>(RMSpropOptions{.lr = v.at("lr"), .alpha = v.at("alpha"), .eps = v.at("eps"),
                                                       .weight_decay = v.at("weight_decay"),
                                                       .momentum = v.at("momentum"), .centered = flag(v, "centered")});
     }},
    {"adam", "Adam", "Adam", kAdamParams, [](const HyperparameterValues& v) { return make_adam(v, AdamOptions{}); }},
    {"adamw", "AdamW", "Adam with decoupled weight decay (Loshchilov & Hutter)", kAdamWParams,
     [](const HyperparameterValues& v) { return make_adam(v, AdamWOptions{}); }},
    {"lbfgs", "LBFGS", "limited-memory BFGS, for full batches (--batch-size = the training rows)", kLbfgsParams,
     [](const HyperparameterValues& v) -> std::unique_ptr<Optimizer> {
       return std::make_unique<LBFGS>(LBFGSOptions{
           .lr = v.at("lr"), .max_iter = static_cast<std::size_t>(v.at("max_iter")),
           .max_eval = static_cast<std::size_t>(v.at("max_eval")), .tolerance_grad = v.at("tolerance_grad"),
           .tolerance_change = v.at("tolerance_change"),
           .history_size = static_cast<std::size_t>(v.at("history_size")), .strong_wolfe = flag(v, "strong_wolfe"),
           .weight_decay = v.at("weight_decay")});
     }},
}};

}  // namespace

std::span<const OptimizerKind> optimizer_kinds() { return kOptimizers; }

const OptimizerKind& optimizer_kind(std::string_view name) {
  std::string names;
  for (const OptimizerKind& k : kOptimizers) {
    if (k.name == name) return k;
    names += fmt::format("{}{}", names.empty() ? "" : ", ", k.name);
  }
  throw std::invalid_argument(fmt::format("unknown optimizer '{}' (expected {})", detail::quote(name), names));
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view name, const HyperparameterValues& given) {
  const OptimizerKind& k = optimizer_kind(name);
  HyperparameterValues values = resolve_hyperparameters(fmt::format("optimizer {}", k.name), k.params, given);
  std::unique_ptr<Optimizer> o = k.make(values);
  o->registered_ = k.name;
  o->hyperparameters_ = std::move(values);
  return o;
}

}  // namespace gradflow
