#include "gradflow/callbacks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

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

namespace {
using nlohmann::json;
json parse_state(const std::string& text, const char* what) {
  try {
    return detail::parse_json<json>(text, what);
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("{}: {}", what, e.what()));
  }
}
// JSON has no infinity: an unset best loss is null.
json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double or_infinity(const json& v) { return v.is_null() ? std::numeric_limits<double>::infinity() : v.get<double>(); }
}  // namespace

LrScheduler::LrScheduler(ScheduleOptions options) : options_(options) { Schedule(1.0, options_); }

void LrScheduler::on_train_begin(Trainer& t) {
  if (schedule_) return;
  schedule_.emplace(t.optimizer().initial_learning_rate(), options_);
  if (loaded_) schedule_->set_plateau_state(*loaded_);
}

void LrScheduler::on_epoch_begin(Trainer& t, std::size_t epoch) {
  t.optimizer().set_learning_rate(schedule_->lr(epoch - 1));
}

void LrScheduler::on_epoch_end(Trainer& t, const EpochMetrics& m) {
  if (options_.kind == ScheduleOptions::Kind::Plateau)
    t.optimizer().set_learning_rate(schedule_->observe(m.monitored_loss()));
}

std::string LrScheduler::state_json() const {
  const Schedule::PlateauState p = schedule_ ? schedule_->plateau_state() : loaded_.value_or(Schedule::PlateauState{});
  return json{{"lr", p.lr}, {"best", finite_or_null(p.best)}, {"bad_epochs", p.bad_epochs},
              {"cooldown_left", p.cooldown_left}}
      .dump();
}

void LrScheduler::load_state_json(const std::string& text) {
  const json j = parse_state(text, "schedule state");
  try {
    Schedule::PlateauState p;
    p.lr = j.at("lr").get<double>();
    p.best = or_infinity(j.at("best"));
    p.bad_epochs = j.at("bad_epochs").get<std::size_t>();
    p.cooldown_left = j.at("cooldown_left").get<std::size_t>();
    loaded_ = p;
    if (schedule_) schedule_->set_plateau_state(p);
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("schedule state: {}", e.what()));
  }
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

std::string EarlyStopping::state_json() const {
  return json{{"best_loss", finite_or_null(best_)}, {"best_epoch", best_epoch_}, {"bad_epochs", bad_}}.dump();
}

void EarlyStopping::load_state_json(const std::string& text) {
  const json j = parse_state(text, "early-stopping state");
  try {
    best_ = or_infinity(j.at("best_loss"));
    best_epoch_ = j.at("best_epoch").get<std::size_t>();
    bad_ = j.at("bad_epochs").get<std::size_t>();
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("early-stopping state: {}", e.what()));
  }
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

void StagedUnfreezing::on_train_begin(Trainer& t) {
  // A restored state: the model's layers are frozen as they were when it was saved.
  if (current_ != static_cast<std::size_t>(-1)) freeze_blocks(t.model(), current_);
}

std::string StagedUnfreezing::state_json() const {
  return json{{"frozen", current_ == static_cast<std::size_t>(-1) ? json(nullptr) : json(current_)}}.dump();
}

void StagedUnfreezing::load_state_json(const std::string& text) {
  const json j = parse_state(text, "unfreezing state");
  try {
    current_ = j.at("frozen").is_null() ? static_cast<std::size_t>(-1) : j.at("frozen").get<std::size_t>();
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("unfreezing state: {}", e.what()));
  }
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
