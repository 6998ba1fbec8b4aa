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
  batch_size_ = t.options().batch_size;
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

void Diagnostics::warn(const std::string& kind, const std::string& cause, std::size_t layer,
                       const DiagnosticsRecord& r, std::string message) {
  if (!warned_.insert({kind, layer}).second) return;  // once each
  warnings_.push_back({kind, cause, layer, r.epoch, r.step, std::move(message)});
  if (on_warning) on_warning(warnings_.back());
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

Init init_of(const Dense* d) { return d ? d->spec().dense().init : Init::Default; }
bool normal_init(const Dense* d) { return init_of(d) == Init::Normal; }

// N(0,1) weights, many times Glorot's std √(2 / (in + out)): above 8 inputs and outputs, 2× or more.
bool too_large_normal(const Dense* d) {
  return normal_init(d) && d->trainable() && d->in_features() + d->out_features() > 8;
}

// The trained Dense layers whose N(0,1) weights are too large, widest first.
std::vector<const Dense*> normal_layers(const Sequential& m) {
  std::vector<const Dense*> out;
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m.layer(i).kind() == LayerKind::Dense && too_large_normal(static_cast<const Dense*>(&m.layer(i))))
      out.push_back(static_cast<const Dense*>(&m.layer(i)));
  // The widest first: its weights are the most too large.
  std::stable_sort(out.begin(), out.end(), [](const Dense* a, const Dense* b) {
    return a->in_features() + a->out_features() > b->in_features() + b->out_features();
  });
  return out;
}

// The initializer that keeps the signal's scale for what a Dense layer feeds.
std::string fitting_init(const Sequential& m, const Dense* d) {
  for (std::size_t i = 0; i < m.size(); ++i)
    if (&m.layer(i) == d)
      for (std::size_t j = i + 1; j < m.size(); ++j) {
        const LayerKind k = m.layer(j).kind();
        if (k == LayerKind::SELU) return "LeCun normal (--init lecun_normal)";
        if (has_trait(k, kReluFamily)) return "He (--init he_normal)";
        if (has_trait(k, kActivation)) return "Glorot (--init glorot_uniform)";
      }
  return "Glorot (--init glorot_uniform)";
}

std::string normal_cause(const Sequential& m, const Dense* d, const std::string& effect) {
  return fmt::format("N(0,1) initial weights are too large for a {}→{} layer, {:.0f}× Glorot's ({}); use {} or batch "
                     "normalization",
                     d->in_features(), d->out_features(),
                     std::sqrt(static_cast<double>(d->in_features() + d->out_features()) / 2), effect,
                     fitting_init(m, d));
}

bool has_batchnorm(const Sequential& m) {
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m.layer(i).kind() == LayerKind::BatchNorm && m.layer(i).trainable()) return true;
  return false;
}

// "3", "3, 5, 9", "0–3" (consecutive), "3, 5, …, 11" (evenly spaced, 4 or more)
std::string layer_list(const std::vector<std::size_t>& ix) {
  std::string s;
  const bool even = ix.size() >= 3 && ix.back() - ix.front() == (ix[1] - ix[0]) * (ix.size() - 1);
  if (even && ix[1] - ix[0] == 1) return fmt::format("{}–{}", ix[0], ix.back());
  if (even && ix.size() >= 4) return fmt::format("{}, {}, …, {}", ix[0], ix[1], ix.back());
  for (std::size_t i : ix) s += (s.empty() ? "" : ", ") + std::to_string(i);
  return s;
}
}  // namespace

void Diagnostics::check(Trainer& t, const DiagnosticsRecord& r) {
  const Sequential& m = t.model();
  const double lr = t.optimizer().learning_rate();
  std::vector<const LayerRecord*> dense;
  for (const auto& l : r.layers)
    if (l.kind == LayerKind::Dense && m.layer(l.index).trainable()) dense.push_back(&l);
  check_depth(m, r, dense);
  check_growth(r, dense, lr);
  check_selu(m, r);
  check_batchnorm(m, r);
  // Dead and saturated units, one warning per cause for all the layers it hits.
  std::vector<Finding> found;
  for (const LayerRecord& l : r.layers) {
    if (!std::isnan(l.dead)) {
      if (l.dead > o_.dead_fraction) {
        if (!dead_since_[l.index]) dead_since_[l.index] = r.epoch;
        found.push_back({"dead", l.index, l.kind, l.dead, dead_cause(m, l.index, lr)});
      } else {
        dead_since_[l.index] = 0;
      }
    }
    if (!std::isnan(l.saturated) && l.saturated > o_.saturated_fraction)
      found.push_back({"saturated", l.index, l.kind, l.saturated, saturated_cause(m, l.index, dense)});
  }
  warn_grouped(m, r, found);
}

// Through depth: the gradient reaching the first layer is a tiny fraction (vanishing) or a huge
// multiple (exploding) of the last one's. First/last at initialization, 10×256 nets: sigmoid
// under Glorot ≈ 1e-7 (2-D moons here; 1e-6 in PyTorch on Fashion-MNIST), tanh under N(0,1) ≈
// 7e3 (3e4); healthy nets 0.7–1.9 while training on Fashion-MNIST (the default recipe;
// 784-512-256-10 ReLU with SGD), although the first layer has 150× the weights.
void Diagnostics::check_depth(const Sequential& m, const DiagnosticsRecord& r,
                              const std::vector<const LayerRecord*>& dense) {
  if (dense.size() < 2) return;
  const LayerRecord& first = *dense.front();
  const LayerRecord& last = *dense.back();
  const double ratio = first.grad_norm / last.grad_norm;
  vanishing_count_ = first.grad_norm < o_.vanishing_ratio * last.grad_norm ? vanishing_count_ + 1 : 0;
  growing_count_ = first.grad_norm > o_.exploding_ratio * last.grad_norm ? growing_count_ + 1 : 0;
  if (vanishing_count_ < 2 && growing_count_ < 2) return;
  const bool vanishing = vanishing_count_ >= 2;
  const std::string what =
      fmt::format("{} gradients: layer {} ({}) gets a gradient norm of {:.2g}, {:.1e}{} the last layer's {:.2g}",
                  vanishing ? "vanishing" : "exploding", first.index, first.name, first.grad_norm, ratio,
                  vanishing ? " of" : "×", last.grad_norm);
  const std::vector<const Dense*> normal = normal_layers(m);
  if (vanishing && batch_size_ < 8 && has_batchnorm(m)) {
    warn("vanishing", kCauseSmallBatch, first.index, r,
         what + fmt::format(" — BatchNorm over batches of {} rows passes almost no gradient back (its outputs are "
                            "nearly ±1 whatever its inputs); use batches of 16 or more, or drop BatchNorm",
                            batch_size_));
  } else if (!normal.empty()) {
    warn(vanishing ? "vanishing" : "exploding", kCauseNormalInit, first.index, r,
         what + " — " + normal_cause(m, normal.front(), vanishing ? "units saturate and pass little gradient back"
                                                                  : "the gradient grows as it flows back"));
  } else if (vanishing) {
    std::string acts;
    for (const auto& l : r.layers)
      if (has_trait(l.kind, kSaturating) && acts.find(to_string(l.kind)) == std::string::npos)
        acts += std::string(acts.empty() ? "" : "/") + std::string(to_string(l.kind));
    const bool saturating = !acts.empty();
    warn("vanishing", saturating ? kCauseSaturatingActivation : kCauseInitScale, first.index, r,
         what + (saturating ? fmt::format(" — {}'s slope is below 1 (sigmoid: at most 0.25), so each layer shrinks the "
                                          "gradient; use ReLU-family activations with He initialization, batch "
                                          "normalization, or fewer layers",
                                          acts)
                            : has_batchnorm(m)
                                  ? fmt::format(" — the lower layers barely learn; BatchNorm after a Dense layer makes "
                                                "its output blind to the weights' scale, which leaves a layer of few "
                                                "inputs (here {}) little gradient: harmless if the model trains well, "
                                                "else try without BatchNorm in the first block, or fewer layers",
                                                m.layer(first.index).in_features())
                                  : " — the lower layers barely learn; try batch normalization or fewer layers"));
  } else {
    warn("exploding", kCauseInitScale, first.index, r,
         what + " — the gradient grows as it flows back through the layers: the initial weights are too large for "
                "this depth; use Glorot/LeCun/He initialization as fits the activation, batch normalization or "
                "gradient clipping (norm 1)");
  }
}

// In time: a layer's gradient norm grows by more than the factor per interval, twice in a row
// (one jump alone is common early in training, when the gradients start from near 0).
void Diagnostics::check_growth(const DiagnosticsRecord& r, const std::vector<const LayerRecord*>& dense, double lr) {
  if (records_.size() < 3) return;
  const DiagnosticsRecord& prev = records_[records_.size() - 2];
  const DiagnosticsRecord& prev2 = records_[records_.size() - 3];
  std::vector<std::size_t> grew;  // one warning for all the layers, each warned once
  double lo = std::numeric_limits<double>::infinity(), hi = 0, top = 0;
  // Growth from near 0 is not an explosion (BatchNorm over 2 rows passes a first layer ~1e-6,
  // whose rounding noise can grow 1e4×): it must pass the largest gradient the net had before.
  double ceiling = 0;
  for (const LayerRecord* l : dense) ceiling = std::max(ceiling, prev2.layers[l->index].grad_norm);
  for (const LayerRecord* l : dense) {
    const double before = prev.layers[l->index].grad_norm, before2 = prev2.layers[l->index].grad_norm;
    if (before2 > 0 && before > o_.exploding_factor * before2 && l->grad_norm > o_.exploding_factor * before &&
        l->grad_norm > ceiling && !warned_.count({"exploding", l->index})) {
      grew.push_back(l->index);
      lo = std::min(lo, l->grad_norm / before2), hi = std::max(hi, l->grad_norm / before2);
      top = std::max(top, l->grad_norm);
    }
  }
  if (grew.empty()) return;
  const std::string who = grew.size() == 1 ? fmt::format("layer {} ({}) gradient norm", grew[0], r.layers[grew[0]].name)
                                           : fmt::format("layers {} (Dense) gradient norms", layer_list(grew));
  const std::string by = lo == hi ? fmt::format("{:.2g}×", hi) : fmt::format("{:.2g}–{:.2g}×", lo, hi);
  warn("exploding", kCauseLearningRate, grew[0], r,
       fmt::format("exploding gradients: {} grew {} in {} steps (to {:.3g}) — the learning rate ({:.3g}) is too high "
                   "for this net: lower it, clip gradients (norm 1) or add batch normalization",
                   who, by, 2 * o_.every, top, lr));
  for (std::size_t l : grew) warned_.insert({"exploding", l});
}

// SELU keeps mean 0 and std 1 through depth only with LeCun-normal weights (and standardized inputs).
void Diagnostics::check_selu(const Sequential& m, const DiagnosticsRecord& r) {
  std::vector<Finding> found;
  for (const LayerRecord& l : r.layers) {
    if (l.kind != LayerKind::SELU || (std::fabs(l.out_mean) <= 0.5 && l.out_std >= 0.5 && l.out_std <= 2)) continue;
    const Dense* d = feeding_dense(m, l.index);
    const Init init = init_of(d);
    if (init == Init::LeCunNormal || !d) continue;  // (unscaled inputs: the dead/saturated rules say so)
    found.push_back({"selu", l.index, l.kind, l.out_std,
                     {kCauseSeluInit, fmt::format("its Dense weights are {}, not LeCun normal: SELU self-normalizes "
                                                  "only with LeCun-normal weights (--init lecun_normal)",
                                                  to_string(init))}});
  }
  warn_grouped(m, r, found);
}

// BatchNorm over a handful of rows: in training each unit's outputs are pushed to ±1 (2 rows:
// exactly ±1 whatever the inputs), and evaluation's running statistics are far from them.
void Diagnostics::check_batchnorm(const Sequential& m, const DiagnosticsRecord& r) {
  if (batch_size_ >= 8) return;
  std::vector<std::size_t> bn;
  for (const LayerRecord& l : r.layers)
    if (l.kind == LayerKind::BatchNorm && m.layer(l.index).trainable()) bn.push_back(l.index);
  if (bn.empty()) return;
  warn("batchnorm", kCauseSmallBatch, bn.front(), r,
       fmt::format("{} (BatchNorm): normalized over batches of {} rows, each unit's output is nearly ±1 whatever the "
                   "inputs ({}), and evaluation's running statistics differ from the batches'; use batches of 16 or "
                   "more, or drop BatchNorm",
                   bn.size() == 1 ? "layer " + layer_list(bn) : "layers " + layer_list(bn), batch_size_,
                   batch_size_ == 2 ? "with 2 rows, exactly" : "few rows give a noisy mean and variance"));
}

// "layer 3 (tanh, 128 units): 77% of outputs …" or "layers 3, 5, …, 11 (tanh): 51–81% …".
void Diagnostics::warn_grouped(const Sequential& m, const DiagnosticsRecord& r, std::vector<Finding>& found) {
  std::erase_if(found, [&](const Finding& f) { return warned_.count({f.kind, f.layer}) > 0; });
  while (!found.empty()) {
    const Finding head = found.front();
    std::vector<Finding> group;
    std::erase_if(found, [&](const Finding& f) {
      const bool same = f.kind == head.kind && f.cause.first == head.cause.first && f.layer_kind == head.layer_kind;
      if (same) group.push_back(f);
      return same;
    });
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    std::vector<std::size_t> layers;
    for (const Finding& f : group) lo = std::min(lo, f.value), hi = std::max(hi, f.value), layers.push_back(f.layer);
    const std::string who =
        group.size() == 1 ? fmt::format("layer {} ({}, {} units)", head.layer, to_string(head.layer_kind),
                                         m.layer(head.layer).out_features())
                          : fmt::format("layers {} ({})", layer_list(layers), to_string(head.layer_kind));
    std::string what;
    if (head.kind == "selu") {
      what = (lo == hi ? fmt::format("output std {:.2g}", hi) : fmt::format("output std {:.2g}–{:.2g}", lo, hi)) +
             ", far from SELU's fixed point of 1";
    } else {
      const std::string share = lo == hi || pct(lo) == pct(hi) ? pct(hi) : pct(lo) + "–" + pct(hi);
      what = share + (head.kind == "dead" ? fmt::format(" of units dead since epoch {}", dead_since_[head.layer])
                                          : " of outputs saturated (within 1% of an asymptote)");
    }
    warn(head.kind, head.cause.first, head.layer, r, fmt::format("{}: {} — {}", who, what, head.cause.second));
    for (const Finding& f : group) warned_.insert({f.kind, f.layer});
  }
}

// Unscaled inputs push the first layer's pre-activations far from 0, and the gradients they
// multiply make every step as large as a rate that many times higher, for the layers above too.
std::string Diagnostics::unscaled_cause(bool first_layer) const {
  return fmt::format("the inputs are not standardized (features reach |mean| + std = {:.3g}), which {}; standardize "
                     "them (--standardize)",
                     o_.input_scale,
                     first_layer ? "pushes the pre-activations far from 0"
                                 : "makes the first layer's steps as large as a rate that many times higher");
}

// Dead units, by what could have killed them: a frozen layer's weights came from elsewhere;
// unscaled inputs (any layer: see unscaled_cause); N(0,1) weights put half
// the units of a wide layer far below 0 for good; else a step too large.
std::pair<std::string, std::string> Diagnostics::dead_cause(const Sequential& m, std::size_t layer, double lr) const {
  const Dense* d = feeding_dense(m, layer);
  if (d && !d->trainable())
    return {kCauseFrozen,
            "its Dense layer is frozen (it does not learn in this run): the reused weights do not activate these "
            "units on this data; unfreeze it (--freeze fewer blocks, --unfreeze-every) or reuse fewer layers"};
  if (d && o_.input_scale > kUnscaledInputs)
    return {kCauseUnscaledInputs, unscaled_cause(first_dense(m, d))};
  if (too_large_normal(d))
    return {kCauseNormalInit, normal_cause(m, d, "its pre-activations are large, and a unit pushed below 0 stays there")};
  const Init init = init_of(d);
  const bool he = init == Init::HeNormal || init == Init::HeUniform;
  return {kCauseLearningRate, fmt::format("the learning rate ({:.3g}) is too high: a large step pushes units below 0 "
                                          "for every input; try a lower rate, LeakyReLU/ELU{}",
                                          lr, he ? "" : " or He initialization")};
}

// Saturated units: N(0,1) weights (the lecture's case, whichever way the gradient then goes);
// unscaled inputs; a gradient that vanishes toward the input; else units in the flat tails.
std::pair<std::string, std::string> Diagnostics::saturated_cause(const Sequential& m, std::size_t layer,
                                                                 const std::vector<const LayerRecord*>& dense) const {
  const Dense* d = feeding_dense(m, layer);
  const double ratio = dense.size() >= 2 ? dense.front()->grad_norm / dense.back()->grad_norm : 1.0;
  const std::size_t first = dense.empty() ? 0 : dense.front()->index;
  if (too_large_normal(d)) {
    const std::string flow = ratio > 10   ? fmt::format("the gradient explodes toward the input: layer {}'s gradient "
                                                        "norm is {:.2g}× the last layer's", first, ratio)
                             : ratio < 0.1 ? fmt::format("the gradient vanishes toward the input: layer {}'s gradient "
                                                         "norm is {:.2g} of the last layer's", first, ratio)
                                           : "they pass little gradient back";
    return {kCauseNormalInit, normal_cause(m, d, fmt::format("{} units sit in the tails; {}",
                                                             to_string(m.layer(layer).kind()), flow))};
  }
  if (d && o_.input_scale > kUnscaledInputs)
    return {kCauseUnscaledInputs, unscaled_cause(first_dense(m, d))};
  if (ratio < 0.1)
    return {kCauseSaturatingActivation,
            fmt::format("the gradient vanishes toward the input (layer {}'s gradient norm is {:.2g} of the last "
                        "layer's); try batch normalization or ReLU-family activations",
                        first, ratio)};
  return {kCauseTails, "units in the flat tails learn slowly; try batch normalization or ReLU-family activations"};
}

// A rate above 1 is past what any of the update rules trains with: it is the cause even where
// N(0,1) weights would be one too (a rate grown by a schedule, a typo'd --lr).
std::string divergence_cause(const Sequential& m, double lr, std::string* remedy) {
  const std::vector<const Dense*> normal = normal_layers(m);
  if (!normal.empty() && lr <= 1) {
    if (remedy)
      *remedy = normal_cause(m, normal.front(), "the activations grow layer by layer until the loss overflows");
    return kCauseNormalInit;
  }
  if (remedy)
    *remedy = fmt::format("lower the learning rate (now {:.6g}), clip the gradients or add batch normalization", lr);
  return kCauseLearningRate;
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
