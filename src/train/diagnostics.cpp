#include "gradflow/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>


namespace gradflow {

namespace {
double norm(const float* v, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(v[i]) * v[i];
  return std::sqrt(s);
}
// ReLU-like units can die (zero for every input); bounded ones saturate.
bool is_dead_kind(LayerKind k) { return has_trait(k, kReluFamily); }
bool is_saturating(LayerKind k) { return has_trait(k, kSaturating); }
std::string pct(double f) { return fmt::format("{:.0f}%", 100 * f); }
}  // namespace

LayerRecord layer_record(Sequential& m, std::size_t i) {
  Layer& l = m.layer(i);
  LayerRecord r;
  r.index = i;
  r.name = l.name();
  r.kind = l.kind();
  const Tensor& y = m.output(i);
  double sum = 0, sq = 0;
  std::size_t sat = 0;
  // Saturated: within 0.01 of one of the kind's bounds (sigmoid: 0 and 1; tanh: ±1).
  const bool bounded = is_saturating(l.kind());
  const float low = layer_kind(l.kind()).low + 0.01f, high = layer_kind(l.kind()).high - 0.01f;
  for (std::size_t k = 0; k < y.size(); ++k) {
    sum += y[k];
    sq += static_cast<double>(y[k]) * y[k];
    if (bounded) sat += y[k] < low || y[k] > high;
  }
  const double n = static_cast<double>(y.size());
  r.out_mean = sum / n;
  r.out_std = std::sqrt(std::max(0.0, sq / n - r.out_mean * r.out_mean));
  if (bounded) r.saturated = static_cast<double>(sat) / n;
  if (l.kind() == LayerKind::Dense) {
    r.weight_norm = norm(l.params()[0].data(), l.params()[0].size());
    r.grad_norm = l.trainable() ? norm(l.grads()[0].data(), l.grads()[0].size()) : 0.0;
  }
  if (l.kind() == LayerKind::BatchNorm) {
    const Tensor& g = l.params()[0];
    const Tensor& b = l.params()[1];
    r.gamma_mean = std::accumulate(g.span().begin(), g.span().end(), 0.0) / static_cast<double>(g.size());
    r.beta_mean = std::accumulate(b.span().begin(), b.span().end(), 0.0) / static_cast<double>(b.size());
  }
  return r;
}

Diagnostics::Diagnostics(DiagnosticsOptions options) : o_(options) {
  if (o_.every == 0) o_.every = 1;
}

void Diagnostics::on_train_begin(Trainer& t) {
  Sequential& m = t.model();
  // An output activation fused into the loss does not run in training: nothing to record.
  layers_ = loss_input_layers(m, t.loss());
  epochs_ = t.options().epochs;
  alive_.assign(m.size(), {});
  for (std::size_t i = 0; i < m.size(); ++i)
    if (is_dead_kind(m.layer(i).kind())) alive_[i].assign(m.layer(i).out_features(), 0);
  dead_since_.assign(m.size(), 0);
  vanishing_count_ = growing_count_ = 0;
  before_.resize(1, m.num_params());
}

void Diagnostics::on_after_backward(Trainer& t, const StepInfo& s) {
  if (!sampled(s)) return;
  Sequential& m = t.model();
  std::memcpy(before_.data(), m.parameters().data(), m.num_params() * sizeof(float));
  pending_ = DiagnosticsRecord{s.global_step + 1, s.epoch, {}};
  for (std::size_t i = 0; i < layers_; ++i) pending_.layers.push_back(layer_record(m, i));
}

void Diagnostics::on_step_end(Trainer& t, const StepInfo& s) {
  Sequential& m = t.model();
  // Dead units: OR over every step's batch whether a unit was ever non-zero.
  for (std::size_t i = 0; i < layers_; ++i) {
    if (alive_[i].empty()) continue;
    const Tensor& y = m.output(i);
    unsigned char* alive = alive_[i].data();
    const std::size_t units = y.cols();
    for (std::size_t r = 0; r < y.rows(); ++r) {
      const float* row = y.row(r);
      for (std::size_t j = 0; j < units; ++j) alive[j] |= row[j] != 0.0f;
    }
  }
  if (!sampled(s)) return;
  const float* after = m.parameters().data();
  for (LayerRecord& r : pending_.layers) {
    Layer& l = m.layer(r.index);
    if (!alive_[r.index].empty()) {
      const auto& a = alive_[r.index];
      r.dead = static_cast<double>(std::count(a.begin(), a.end(), 0)) / static_cast<double>(a.size());
      std::fill(alive_[r.index].begin(), alive_[r.index].end(), 0);
    }
    if (l.kind() == LayerKind::Dense) {
      const std::size_t off = m.param_offset(r.index), n = l.params()[0].size();
      double d = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const double diff = static_cast<double>(after[off + k]) - before_[off + k];
        d += diff * diff;
      }
      r.update_ratio = r.weight_norm > 0 ? std::sqrt(d) / r.weight_norm : 0.0;
    }
  }
  records_.push_back(pending_);
  if (on_record) on_record(records_.back());
  check(t, records_.back());
}

void Diagnostics::warn(const std::string& kind, std::size_t layer, const DiagnosticsRecord& r, std::string message) {
  if (!warned_.insert({kind, layer}).second) return;  // once each
  warnings_.push_back({kind, layer, r.epoch, r.step, std::move(message)});
  if (on_warning) on_warning(warnings_.back());
}

void Diagnostics::check(Trainer& t, const DiagnosticsRecord& r) {
  const double lr = t.optimizer().learning_rate();
  std::vector<const LayerRecord*> dense;
  for (const auto& l : r.layers)
    if (l.kind == LayerKind::Dense && t.model().layer(l.index).trainable()) dense.push_back(&l);
  // Through depth: the gradient reaching the first layer is a tiny fraction (vanishing) or a
  // huge multiple (exploding) of the last one's. First/last at initialization, 10×256 nets:
  // sigmoid under Glorot ≈ 1e-7 (2-D moons here; 1e-6 in PyTorch on Fashion-MNIST), tanh under
  // N(0,1) ≈ 7e3 (3e4); healthy nets 0.7–1.9 while training on Fashion-MNIST (the default
  // recipe; 784-512-256-10 ReLU with SGD), although the first layer has 150× the weights.
  if (dense.size() >= 2) {
    const LayerRecord& first = *dense.front();
    const LayerRecord& last = *dense.back();
    const double ratio = first.grad_norm / last.grad_norm;
    vanishing_count_ = first.grad_norm < o_.vanishing_ratio * last.grad_norm ? vanishing_count_ + 1 : 0;
    growing_count_ = first.grad_norm > o_.exploding_ratio * last.grad_norm ? growing_count_ + 1 : 0;
    if (vanishing_count_ >= 2)
      warn("vanishing", first.index, r,
           fmt::format("vanishing gradients: layer {} ({}) gets a gradient norm of {:.2g}, {:.1e} of the last layer's "
                       "{:.2g} — the lower layers barely learn; try ReLU-family activations with He initialization, "
                       "batch normalization, or fewer layers",
                       first.index, first.name, first.grad_norm, ratio, last.grad_norm));
    if (growing_count_ >= 2)
      warn("exploding", first.index, r,
           fmt::format("exploding gradients: layer {} ({}) gets a gradient norm of {:.2g}, {:.1e}× the last layer's "
                       "{:.2g} — the gradient grows as it flows back through the layers; try Glorot/LeCun "
                       "initialization instead of N(0,1), batch normalization, gradient clipping (norm 1) "
                       "or a lower learning rate",
                       first.index, first.name, first.grad_norm, ratio, last.grad_norm));
  }
  // Exploding: a layer's gradient norm grows by more than the factor per interval, twice in a
  // row (one jump alone is common early in training, when the gradients start from near 0).
  if (records_.size() >= 3) {
    const DiagnosticsRecord& prev = records_[records_.size() - 2];
    const DiagnosticsRecord& prev2 = records_[records_.size() - 3];
    std::vector<const LayerRecord*> grew;  // one warning for all the layers, each warned once
    double lo = std::numeric_limits<double>::infinity(), hi = 0, top = 0;
    for (const LayerRecord* l : dense) {
      const double before = prev.layers[l->index].grad_norm, before2 = prev2.layers[l->index].grad_norm;
      if (before2 > 0 && before > o_.exploding_factor * before2 && l->grad_norm > o_.exploding_factor * before &&
          !warned_.count({"exploding", l->index})) {
        grew.push_back(l);
        lo = std::min(lo, l->grad_norm / before2), hi = std::max(hi, l->grad_norm / before2);
        top = std::max(top, l->grad_norm);
      }
    }
    if (!grew.empty()) {
      std::string layers;
      for (const LayerRecord* l : grew) layers += (layers.empty() ? "" : ", ") + std::to_string(l->index);
      const std::string who = grew.size() == 1 ? fmt::format("layer {} ({}) gradient norm", grew[0]->index,
                                                             grew[0]->name)
                                               : fmt::format("layers {} (Dense) gradient norms", layers);
      const std::string by = lo == hi ? fmt::format("{:.0f}×", hi) : fmt::format("{:.0f}–{:.0f}×", lo, hi);
      warn("exploding", grew[0]->index, r,
           fmt::format("exploding gradients: {} grew {} in {} steps (to {:.3g}) — lower the learning rate ({:.3g}), "
                       "clip gradients (norm 1) or add batch normalization",
                       who, by, 2 * o_.every, top, lr));
      for (const LayerRecord* l : grew) warned_.insert({"exploding", l->index});
    }
  }
  // Dead and saturated units, one warning per cause for all the layers it hits.
  std::vector<Finding> found;
  for (const LayerRecord& l : r.layers) {
    if (!std::isnan(l.dead)) {
      if (l.dead > o_.dead_fraction) {
        if (!dead_since_[l.index]) dead_since_[l.index] = r.epoch;
        found.push_back({"dead", l.index, l.kind, l.dead, dead_cause(t.model(), l.index, lr)});
      } else {
        dead_since_[l.index] = 0;
      }
    }
    if (!std::isnan(l.saturated) && l.saturated > o_.saturated_fraction)
      found.push_back({"saturated", l.index, l.kind, l.saturated, saturated_cause(t.model(), l.index, dense)});
  }
  warn_grouped(t.model(), r, found);
}

// "layer 3 (tanh, 128 units): 77% of outputs …" or "layers 3, 5, 7 (tanh): 51–81% of outputs …".
void Diagnostics::warn_grouped(const Sequential& m, const DiagnosticsRecord& r, std::vector<Finding>& found) {
  std::erase_if(found, [&](const Finding& f) { return warned_.count({f.kind, f.layer}) > 0; });
  while (!found.empty()) {
    const Finding head = found.front();
    std::vector<Finding> group;
    std::erase_if(found, [&](const Finding& f) {
      const bool same = f.kind == head.kind && f.cause == head.cause && f.layer_kind == head.layer_kind;
      if (same) group.push_back(f);
      return same;
    });
    double lo = 1, hi = 0;
    std::string layers;
    for (const Finding& f : group) {
      lo = std::min(lo, f.fraction), hi = std::max(hi, f.fraction);
      layers += (layers.empty() ? "" : ", ") + std::to_string(f.layer);
    }
    const std::string who =
        group.size() == 1 ? fmt::format("layer {} ({}, {} units)", head.layer, to_string(head.layer_kind),
                                         m.layer(head.layer).out_features())
                          : fmt::format("layers {} ({})", layers, to_string(head.layer_kind));
    const std::string share = group.size() == 1 || pct(lo) == pct(hi) ? pct(hi) : pct(lo) + "–" + pct(hi);
    const std::string what = head.kind == "dead"
                                 ? fmt::format("of units dead since epoch {}", dead_since_[head.layer])
                                 : "of outputs saturated (within 1% of an asymptote)";
    warn(head.kind, head.layer, r, fmt::format("{}: {} {} — {}", who, share, what, head.cause));
    for (const Finding& f : group) warned_.insert({f.kind, f.layer});
  }
}

namespace {
// The Dense whose output an activation at `layer` transforms (through BatchNorm, Dropout), or null.
const Dense* feeding_dense(const Sequential& m, std::size_t layer) {
  for (std::size_t i = layer; i-- > 0;)
    if (m.layer(i).kind() == LayerKind::Dense) return static_cast<const Dense*>(&m.layer(i));
  return nullptr;
}

bool first_dense(const Sequential& m, const Dense* d) {
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m.layer(i).kind() == LayerKind::Dense) return &m.layer(i) == d;
  return false;
}

bool normal_init(const Dense* d) { return d && d->spec().dense().init == Init::Normal; }
}  // namespace

// Dead units, by what could have killed them: a frozen layer's weights came from elsewhere;
// unscaled inputs push the first layer's pre-activations far below 0; else a step too large.
std::string Diagnostics::dead_cause(const Sequential& m, std::size_t layer, double lr) const {
  const Dense* d = feeding_dense(m, layer);
  if (d && !d->trainable())
    return "its Dense layer is frozen (it does not learn in this run): the reused weights do not activate these "
           "units on this data; unfreeze it (--freeze fewer blocks, --unfreeze-every) or reuse fewer layers";
  if (d && first_dense(m, d) && o_.input_scale > kUnscaledInputs)
    return fmt::format("the inputs are not standardized (features reach |mean| + std = {:.3g}), which pushes the "
                       "pre-activations far from 0; standardize them (--standardize)",
                       o_.input_scale);
  const Init init = d ? d->spec().dense().init : Init::Default;
  const bool he = init == Init::HeNormal || init == Init::HeUniform;
  return fmt::format("learning rate {:.3g} may be too high; try a lower rate, LeakyReLU/ELU{}", lr,
                     he ? "" : " or He initialization");
}

// Saturated units, by the direction the gradient takes through depth: growing toward the input
// under N(0,1) weights (the lecture's exploding case) or shrinking toward it (vanishing); or
// unscaled inputs; else units in the flat tails learn slowly.
std::string Diagnostics::saturated_cause(const Sequential& m, std::size_t layer,
                                         const std::vector<const LayerRecord*>& dense) const {
  const Dense* d = feeding_dense(m, layer);
  const double ratio = dense.size() >= 2 ? dense.front()->grad_norm / dense.back()->grad_norm : 1.0;
  const std::size_t first = dense.empty() ? 0 : dense.front()->index;
  const std::string glorot = normal_init(d) ? "Glorot/LeCun initialization instead of N(0,1) (--init glorot_normal), " : "";
  if (normal_init(d) && ratio > 10)
    return fmt::format("N(0,1) weights are too large for {}: its units sit in the tails and the gradient explodes "
                       "toward the input (layer {}'s gradient norm is {:.2g}× the last layer's); use {}batch "
                       "normalization or gradient clipping",
                       to_string(m.layer(layer).kind()), first, ratio, glorot);
  if (d && first_dense(m, d) && o_.input_scale > kUnscaledInputs)
    return fmt::format("the inputs are not standardized (features reach |mean| + std = {:.3g}); standardize them "
                       "(--standardize)",
                       o_.input_scale);
  if (ratio < 0.1)
    return fmt::format("the gradient vanishes toward the input (layer {}'s gradient norm is {:.2g} of the last "
                       "layer's); try {}batch normalization or ReLU-family activations",
                       first, ratio, glorot);
  return fmt::format("units in the flat tails learn slowly; try {}batch normalization or ReLU-family activations",
                     glorot);
}

double input_scale(const Tensor& x) {
  double scale = 0;
  for (std::size_t j = 0; j < x.cols(); ++j) {
    double sum = 0, sq = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < x.rows(); ++i)
      if (const double v = x(i, j); !std::isnan(v)) sum += v, sq += v * v, ++n;
    if (n == 0) continue;
    const double mean = sum / static_cast<double>(n);
    scale = std::max(scale, std::fabs(mean) + std::sqrt(std::max(0.0, sq / static_cast<double>(n) - mean * mean)));
  }
  return scale;
}

}  // namespace gradflow
