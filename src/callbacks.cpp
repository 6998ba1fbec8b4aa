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
    t.optimizer().set_learning_rate(schedule_.observe(m.monitored_loss()));
}

void EarlyStopping::on_epoch_end(Trainer& t, const EpochMetrics& m) {
  const double loss = m.monitored_loss();
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

std::size_t count_blocks(const Sequential& model) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < model.size(); ++i) n += model.layer(i).kind() == LayerKind::Dense;
  return n;
}

void freeze_blocks(Sequential& model, std::size_t n) {
  std::size_t dense = 0;
  bool frozen = n > 0;  // layers before the first Dense (an input BatchNorm) go with block 0
  for (std::size_t i = 0; i < model.size(); ++i) {
    if (model.layer(i).kind() == LayerKind::Dense) frozen = dense++ < n;
    model.layer(i).set_trainable(!frozen);
  }
}

std::size_t copy_matching_layers(Sequential& to, Sequential& from) {
  std::size_t k = 0;
  for (; k < to.size() && k < from.size(); ++k) {
    Layer& a = to.layer(k);
    Layer& b = from.layer(k);
    if (a.kind() != b.kind() || a.in_features() != b.in_features() || a.out_features() != b.out_features() ||
        a.num_params() != b.num_params())
      break;
    for (std::size_t p = 0; p < a.params().size(); ++p) a.params()[p] = b.params()[p];
    auto ab = a.buffers(), bb = b.buffers();
    for (std::size_t j = 0; j < ab.size(); ++j) *ab[j].second = *bb[j].second;
  }
  return k;
}

StagedUnfreezing::StagedUnfreezing(std::vector<Stage> stages, double lr_scale)
    : stages_(std::move(stages)), lr_scale_(lr_scale) {
  for (std::size_t i = 1; i < stages_.size(); ++i)
    if (stages_[i].epoch <= stages_[i - 1].epoch)
      throw std::invalid_argument("unfreezing stages must start at increasing epochs");
  if (!(lr_scale > 0)) throw std::invalid_argument("the learning-rate scale of unfrozen layers must be positive");
}

std::vector<StagedUnfreezing::Stage> StagedUnfreezing::every(std::size_t frozen, std::size_t every) {
  std::vector<Stage> s{{1, frozen}};
  if (every > 0)
    for (std::size_t k = 1; k <= frozen; ++k) s.push_back({1 + k * every, frozen - k});
  return s;
}

void StagedUnfreezing::on_epoch_begin(Trainer& t, std::size_t epoch) {
  std::size_t frozen = current_;
  for (const Stage& s : stages_)
    if (s.epoch <= epoch) frozen = s.frozen;
  if (frozen == current_) return;
  Sequential& m = t.model();
  const bool first = current_ == static_cast<std::size_t>(-1);
  std::vector<bool> was(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) was[i] = m.layer(i).trainable();
  freeze_blocks(m, frozen);
  if (!first && lr_scale_ != 1.0)
    for (std::size_t i = 0; i < m.size(); ++i)
      if (!was[i] && m.layer(i).trainable()) t.optimizer().set_layer_lr_scale(i, lr_scale_);
  current_ = frozen;
}

}  // namespace gradflow
