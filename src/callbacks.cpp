#include "gradflow/callbacks.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

namespace {
// f(first, count) for the gradient span of every trainable layer.
template <class F>
void for_trainable_grads(Sequential& model, F f) {
  float* g = model.gradients().data();
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    if (l.trainable() && l.num_params()) f(g + model.param_offset(i), l.num_params());
  }
}
}  // namespace

double clip_grad_norm(Sequential& model, double max_norm) {
  double sq = 0;
  for_trainable_grads(model, [&](const float* g, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) sq += static_cast<double>(g[k]) * g[k];
  });
  const double norm = std::sqrt(sq);
  const auto coef = static_cast<float>(std::min(1.0, max_norm / (norm + 1e-6)));
  for_trainable_grads(model, [&](float* g, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) g[k] *= coef;
  });
  return norm;
}

void clip_grad_value(Sequential& model, double value) {
  const auto v = static_cast<float>(value);
  for_trainable_grads(model, [&](float* g, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) g[k] = std::clamp(g[k], -v, v);
  });
}

GradientClipping::GradientClipping(std::optional<double> max_norm, std::optional<double> max_value)
    : norm_(max_norm), value_(max_value) {
  if ((norm_ && !(*norm_ > 0)) || (value_ && !(*value_ > 0)))
    throw std::invalid_argument("gradient clipping: the limits must be positive");
}

void GradientClipping::on_after_backward(Trainer& t, const StepInfo&) {
  if (value_) clip_grad_value(t.model(), *value_);
  if (norm_) clip_grad_norm(t.model(), *norm_);
}

void LrScheduler::on_epoch_begin(Trainer& t, std::size_t epoch) {
  t.optimizer().set_learning_rate(schedule_.lr(epoch - 1));
}

void LrScheduler::on_epoch_end(Trainer& t, const EpochMetrics& m) {
  if (schedule_.options().kind == ScheduleOptions::Kind::Plateau)
    t.optimizer().set_learning_rate(schedule_.observe(std::isnan(m.test_loss) ? m.train_loss : m.test_loss));
}

void EarlyStopping::on_epoch_end(Trainer& t, const EpochMetrics& m) {
  const double loss = std::isnan(m.test_loss) ? m.train_loss : m.test_loss;
  if (loss < best_ - min_delta_) {
    best_ = loss;
    best_epoch_ = m.epoch;
    bad_ = 0;
    best_state_ = t.model().snapshot();
  } else if (++bad_ >= patience_) {
    stopped_ = true;
    t.request_stop();
  }
}

void EarlyStopping::on_train_end(Trainer& t) {
  if (best_state_) t.model().restore(*best_state_);
}

}  // namespace gradflow
