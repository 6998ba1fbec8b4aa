#include "gradflow/optimizer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

#include "train/param_slices.h"

namespace gradflow {

namespace {
void check_rate(std::string_view who, double lr) {
  if (!(lr > 0.0) || !std::isfinite(lr))
    throw std::invalid_argument(fmt::format("{}: learning rate must be a positive number, got {}", who, lr));
}
void check_nonneg(std::string_view who, const char* what, double v) {
  if (!(v >= 0.0) || !std::isfinite(v))
    throw std::invalid_argument(fmt::format("{}: {} must be >= 0, got {}", who, what, v));
}
// Allocate a flat state buffer on the first step (zero or `fill`).
void ensure(Tensor& t, std::size_t n, float fill = 0.0f) {
  if (t.size() == n) return;
  t.resize(1, n);
  t.fill(fill);
}
}  // namespace

Optimizer::Optimizer(double lr) : lr_(lr), initial_lr_(lr) {}

std::string Optimizer::state_json() const {
  return nlohmann::json{{"lr", lr_}, {"layer_steps", layer_steps_}, {"layer_lr_scales", layer_scale_}}.dump();
}

void Optimizer::load_state_json(const std::string& text) {
  try {
    const auto j = detail::parse_json<nlohmann::json>(text, "optimizer state");
    lr_ = j.at("lr").get<double>();
    layer_steps_ = j.at("layer_steps").get<std::vector<std::int64_t>>();
    layer_scale_ = j.at("layer_lr_scales").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(fmt::format("optimizer state: {}", e.what()));
  }
}

void Optimizer::set_layer_lr_scale(std::size_t layer, double scale) {
  if (layer >= layer_scale_.size()) layer_scale_.resize(layer + 1, 1.0);
  layer_scale_[layer] = scale;
}

bool Optimizer::step(Sequential& model) {
  prepare(model.num_params());
  layer_steps_.resize(model.size(), 0);
  layer_lr_.resize(model.size());
  for (std::size_t i = 0; i < model.size(); ++i) {
    if (!has_gradients(model.layer(i))) continue;
    ++layer_steps_[i];
    layer_lr_[i] = lr_ * (i < layer_scale_.size() ? layer_scale_[i] : 1.0);
  }
  float* p = model.parameters().data();
  const float* g = model.gradients().data();
  // Each thread updates the units whose gradients it computed (param_slices.h); every value's
  // update depends on that value alone, so the split does not change the result.
  std::atomic<bool> finite{true};
  parallel::run([&](int t, int T) {
    bool mine = true;
    for_param_slices(model, t, T, has_gradients, [&](std::size_t i, std::size_t off, std::size_t n) {
      update(p + off, g + off, n, off, layer_lr_[i], layer_steps_[i]);
      mine = mine && all_finite(p + off, n);
    });
    if (!mine) finite.store(false, std::memory_order_relaxed);
  }, gradient_parts(model));
  return finite.load();
}

// ---- SGD ----
SGD::SGD(const SGDOptions& o) : Optimizer(o.lr), o_(o) {
  check_rate("SGD", o.lr);
  check_nonneg("SGD", "momentum", o.momentum);
  check_nonneg("SGD", "weight_decay", o.weight_decay);
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw std::invalid_argument("SGD: Nesterov momentum requires a momentum and zero dampening");
}
std::string_view SGD::name() const { return o_.nesterov ? "nesterov" : o_.momentum > 0 ? "momentum" : "sgd"; }
std::vector<std::pair<std::string, Tensor*>> SGD::state() {
  if (o_.momentum > 0) return {{"momentum_buffer", &buf_}};
  return {};
}
void SGD::prepare(std::size_t n) {
  if (o_.momentum > 0) ensure(buf_, n);
}
void SGD::update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) {
  const auto a = static_cast<float>(lr), wd = static_cast<float>(o_.weight_decay);
  if (o_.momentum == 0) {
    for (std::size_t k = 0; k < n; ++k) theta[k] -= a * (grad[k] + wd * theta[k]);
    return;
  }
  const auto mu = static_cast<float>(o_.momentum), damp = static_cast<float>(1.0 - o_.dampening);
  const bool first = step == 1;  // torch starts the buffer as a copy of the gradient
  float* b = buf_.data() + off;
  for (std::size_t k = 0; k < n; ++k) {
    const float d = grad[k] + wd * theta[k];
    b[k] = first ? d : mu * b[k] + damp * d;
    theta[k] -= a * (o_.nesterov ? d + mu * b[k] : b[k]);
  }
}

// ---- Adagrad ----
Adagrad::Adagrad(const AdagradOptions& o) : Optimizer(o.lr), o_(o) {
  check_rate("Adagrad", o.lr);
  check_nonneg("Adagrad", "lr_decay", o.lr_decay);
  check_nonneg("Adagrad", "weight_decay", o.weight_decay);
}
void Adagrad::prepare(std::size_t n) { ensure(sum_, n, static_cast<float>(o_.initial_accumulator_value)); }
void Adagrad::update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) {
  const auto clr = static_cast<float>(lr / (1.0 + static_cast<double>(step - 1) * o_.lr_decay));
  const auto wd = static_cast<float>(o_.weight_decay), eps = static_cast<float>(o_.eps);
  float* s = sum_.data() + off;
  for (std::size_t k = 0; k < n; ++k) {
    const float g = grad[k] + wd * theta[k];
    s[k] += g * g;
    theta[k] -= clr * (g / (std::sqrt(s[k]) + eps));
  }
}

// ---- RMSprop ----
RMSprop::RMSprop(const RMSpropOptions& o) : Optimizer(o.lr), o_(o) {
  check_rate("RMSprop", o.lr);
  check_nonneg("RMSprop", "momentum", o.momentum);
  check_nonneg("RMSprop", "weight_decay", o.weight_decay);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw std::invalid_argument("RMSprop: alpha must be in [0, 1]");
}
std::vector<std::pair<std::string, Tensor*>> RMSprop::state() {
  std::vector<std::pair<std::string, Tensor*>> s{{"square_avg", &square_avg_}};
  if (o_.centered) s.push_back({"grad_avg", &grad_avg_});
  if (o_.momentum > 0) s.push_back({"momentum_buffer", &buf_});
  return s;
}
void RMSprop::prepare(std::size_t n) {
  ensure(square_avg_, n);
  if (o_.centered) ensure(grad_avg_, n);
  if (o_.momentum > 0) ensure(buf_, n);
}
void RMSprop::update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t) {
  const auto a = static_cast<float>(lr), wd = static_cast<float>(o_.weight_decay), eps = static_cast<float>(o_.eps);
  const auto alpha = static_cast<float>(o_.alpha), one_minus = static_cast<float>(1.0 - o_.alpha);
  const auto mu = static_cast<float>(o_.momentum);
  float* v = square_avg_.data() + off;
  float* m = o_.centered ? grad_avg_.data() + off : nullptr;
  float* b = o_.momentum > 0 ? buf_.data() + off : nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    const float g = grad[k] + wd * theta[k];
    v[k] = alpha * v[k] + one_minus * g * g;
    float avg;
    if (m) {
      m[k] = alpha * m[k] + one_minus * g;
      avg = std::sqrt(v[k] - m[k] * m[k]) + eps;
    } else {
      avg = std::sqrt(v[k]) + eps;
    }
    if (b) {
      b[k] = mu * b[k] + g / avg;
      theta[k] -= a * b[k];
    } else {
      theta[k] -= a * (g / avg);
    }
  }
}

// ---- Adam / AdamW ----
Adam::Adam(const AdamOptions& o) : Optimizer(o.lr), o_(o) {
  check_rate(o.decoupled ? "AdamW" : "Adam", o.lr);
  check_nonneg("Adam", "weight_decay", o.weight_decay);
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1))
    throw std::invalid_argument(fmt::format("Adam: betas must be in [0, 1), got {}, {}", o.beta1, o.beta2));
  if (!(o.eps >= 0)) throw std::invalid_argument("Adam: eps must be >= 0");
}
std::vector<std::pair<std::string, Tensor*>> Adam::state() {
  std::vector<std::pair<std::string, Tensor*>> s{{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
  if (o_.amsgrad) s.push_back({"max_exp_avg_sq", &max_exp_avg_sq_});
  return s;
}
void Adam::prepare(std::size_t n) {
  ensure(exp_avg_, n);
  ensure(exp_avg_sq_, n);
  if (o_.amsgrad) ensure(max_exp_avg_sq_, n);
}
void Adam::update(float* theta, const float* grad, std::size_t n, std::size_t off, double lr, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(o_.beta1, t), bc2_sqrt = std::sqrt(1.0 - std::pow(o_.beta2, t));
  const auto step_size = static_cast<float>(lr / bc1), bc2 = static_cast<float>(bc2_sqrt);
  const auto b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const auto c1 = static_cast<float>(1.0 - o_.beta1), c2 = static_cast<float>(1.0 - o_.beta2);
  const auto eps = static_cast<float>(o_.eps);
  const auto wd = static_cast<float>(o_.decoupled ? 0.0 : o_.weight_decay);
  const auto decay = static_cast<float>(1.0 - lr * o_.weight_decay);
  float* m = exp_avg_.data() + off;
  float* v = exp_avg_sq_.data() + off;
  // Branch-free loops per variant, so that each one vectorizes.
  if (o_.decoupled)
    for (std::size_t k = 0; k < n; ++k) theta[k] *= decay;
  if (o_.amsgrad) {
    float* vmax = max_exp_avg_sq_.data() + off;
    for (std::size_t k = 0; k < n; ++k) {
      const float g = grad[k] + wd * theta[k];
      m[k] = b1 * m[k] + c1 * g;
      v[k] = b2 * v[k] + c2 * g * g;
      vmax[k] = std::max(vmax[k], v[k]);
      theta[k] -= step_size * (m[k] / (std::sqrt(vmax[k]) / bc2 + eps));
    }
    return;
  }
  for (std::size_t k = 0; k < n; ++k) {
    const float g = grad[k] + wd * theta[k];
    m[k] = b1 * m[k] + c1 * g;
    v[k] = b2 * v[k] + c2 * g * g;
    theta[k] -= step_size * (m[k] / (std::sqrt(v[k]) / bc2 + eps));
  }
}

}  // namespace gradflow
