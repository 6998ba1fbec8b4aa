#include "gradflow/sequential.h"

#include "gradflow/batchnorm.h"
#include "gradflow/dense.h"
#include "gradflow/dropout.h"
#include "gradflow/memory.h"

#include "nn/layer_registry.h"
#include "nn/pointwise.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

namespace {
// The layers after the BatchNorm at j that run in its passes: its activation and, in a group of
// n = 3, the Dropout, with the outputs they write.
BatchNorm::Followers followers(std::vector<std::unique_ptr<Layer>>& layers, std::vector<Tensor>& outputs,
                               std::size_t j, std::size_t n) {
  Dropout* drop = n == 3 ? static_cast<Dropout*>(layers[j + 2].get()) : nullptr;
  return {layers[j + 1]->spec(), outputs[j + 1], drop, drop ? &outputs[j + 2] : nullptr};
}

// The lecture's pairing of initializer and activation: the first kind after the Dense that has
// an opinion (its registered pairing) decides.
Init default_init(const std::vector<LayerSpec>& specs, std::size_t dense_index) {
  for (std::size_t j = dense_index + 1; j < specs.size(); ++j) {
    switch (detail::registration(specs[j].kind).pairing) {
      case detail::InitPairing::Transparent: continue;
      case detail::InitPairing::He: return Init::HeNormal;
      case detail::InitPairing::LeCun: return Init::LeCunNormal;
      case detail::InitPairing::Glorot: return Init::GlorotUniform;
    }
  }
  return Init::GlorotUniform;
}
}  // namespace

std::vector<LayerSpec> resolve_inits(std::vector<LayerSpec> specs) {
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (specs[i].kind == LayerKind::Dense && specs[i].dense().init == Init::Default)
      specs[i].dense().init = default_init(specs, i);
  return specs;
}

Sequential::Sequential(std::size_t in_features, std::vector<LayerSpec> specs, std::uint64_t seed)
    : in_features_(in_features), rng_(seed) {
  if (in_features == 0) throw std::invalid_argument("Sequential: in_features must be positive");
  if (specs.empty()) throw std::invalid_argument("Sequential: a model needs at least one layer");
  check_build_memory(in_features, specs);
  std::size_t width = in_features;
  std::size_t total = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    LayerSpec s = specs[i];
    if (s.kind == LayerKind::Dense && s.dense().init == Init::Default) s.dense().init = default_init(specs, i);
    layers_.push_back(make_layer(s, width));
    width = layers_.back()->out_features();
    offsets_.push_back(total);
    total += layers_.back()->num_params();
  }
  params_.resize(1, total);
  grads_.resize(1, total);
  params_.zero();
  grads_.zero();
  Rng init_rng = rng_.split();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->bind(params_.data() + offsets_[i], grads_.data() + offsets_[i]);
    layers_[i]->init(init_rng);
  }
  outputs_.resize(layers_.size());
  doutputs_.resize(layers_.size());
  toutputs_.resize(layers_.size());
}

std::size_t Sequential::out_features() const { return layers_.back()->out_features(); }

std::vector<LayerSpec> Sequential::specs() const {
  std::vector<LayerSpec> s;
  for (const auto& l : layers_) s.push_back(l->spec());
  return s;
}

std::string Sequential::outline() const {
  std::string s = fmt::format("{}", in_features_);
  for (const auto& l : layers_) {
    if (l->kind() == LayerKind::Dense) s += fmt::format("-{}", l->out_features());
    else if (l->kind() == LayerKind::BatchNorm) s += "(bn)";
    else if (l->kind() == LayerKind::Dropout) s += fmt::format("(dropout {})", l->spec().dropout().p);
    else if (l->kind() != LayerKind::Identity) s += fmt::format("({})", to_string(l->kind()));
  }
  return s;
}

std::string Sequential::summary() const {
  std::string out = fmt::format("input {}\n", in_features_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    std::string extra;
    if (l.kind() == LayerKind::Dense) extra = fmt::format(", init {}", to_string(l.spec().dense().init));
    out += fmt::format("  {:>2}  {:<18} {:>8} params{}{}\n", i, l.name(), l.num_params(), extra,
                       l.trainable() ? "" : "  (frozen)");
  }
  out += fmt::format("  total {} parameters", num_params());
  return out;
}

Dense* Sequential::fused_dense(std::size_t i, std::size_t upto) const {
  if (i + 1 >= upto || layers_[i]->kind() != LayerKind::Dense ||
      !pointwise::is_pointwise(layers_[i + 1]->kind()))
    return nullptr;
  return static_cast<Dense*>(layers_[i].get());
}

std::size_t Sequential::batch_norm_group(std::size_t i, std::size_t upto) const {
  if (i + 1 >= upto || layers_[i]->kind() != LayerKind::BatchNorm ||
      static_cast<const BatchNorm&>(*layers_[i]).synchronized() || !pointwise::is_pointwise(layers_[i + 1]->kind()))
    return 0;
  return i + 2 < upto && layers_[i + 2]->kind() == LayerKind::Dropout ? 3 : 2;
}

const Tensor& Sequential::forward(const Tensor& x, Mode mode, std::size_t upto) {
  upto = std::min(upto, layers_.size());
  if (x.cols() != in_features_)
    throw std::invalid_argument(fmt::format("{}: input has {} features (shape {}), expected {}",
                                            layers_[0]->name(), x.cols(), x.shape_str(),
                                            in_features_));
  if (x.rows() == 0) throw std::invalid_argument("Sequential::forward: empty batch");
  input_ = &x;
  const Tensor* cur = &x;
  const Tensor* cur_t = nullptr;  // cur transposed, when the Dense that wrote it wrote that too
  // Whether layer i is a Dense, which then takes (and may write) transposed activations.
  const auto dense = [&](std::size_t i) {
    return i < upto && layers_[i]->kind() == LayerKind::Dense ? static_cast<Dense*>(layers_[i].get()) : nullptr;
  };
  for (std::size_t i = 0; i < upto; ++i) {
    Dense* d = dense(i);
    if (const std::size_t n = d ? 0 : batch_norm_group(i, upto)) {
      static_cast<BatchNorm&>(*layers_[i]).forward_fused(*cur, outputs_[i], followers(layers_, outputs_, i, n), mode,
                                                         rng_);
      i += n - 1;
      cur = &outputs_[i];
      cur_t = nullptr;
      continue;
    }
    if (!d) {
      layers_[i]->forward(*cur, outputs_[i], mode, rng_);
      cur = &outputs_[i];
      cur_t = nullptr;
      continue;
    }
    const bool fused = fused_dense(i, upto) != nullptr;
    const std::size_t out = fused ? i + 1 : i;  // the pair's (or the layer's) output
    Tensor* out_t = dense(out + 1) ? &toutputs_[out] : nullptr;
    d->forward_fused(*cur, outputs_[i], fused ? &layers_[i + 1]->spec() : nullptr,
                     fused ? &outputs_[i + 1] : nullptr, cur_t, out_t);
    cur = &outputs_[out];
    cur_t = out_t && out_t->rows() > 0 ? out_t : nullptr;
    i = out;
  }
  return *cur;
}

// forward()'s walk in evaluation mode: the same Dense pairs and transposed hand-overs (so the
// same products), each BatchNorm group as its layers one by one (the same bits: test_batchnorm).
const Tensor& Sequential::evaluate(const Tensor& x, Workspace& ws, std::size_t upto) const {
  upto = std::min(upto, layers_.size());
  if (x.cols() != in_features_)
    throw std::invalid_argument(fmt::format("{}: input has {} features (shape {}), expected {}", layers_[0]->name(),
                                            x.cols(), x.shape_str(), in_features_));
  if (x.rows() == 0) throw std::invalid_argument("Sequential::evaluate: empty batch");
  ws.outputs.resize(layers_.size());
  ws.toutputs.resize(layers_.size());
  const auto dense = [&](std::size_t i) {
    return i < upto && layers_[i]->kind() == LayerKind::Dense ? static_cast<const Dense*>(layers_[i].get()) : nullptr;
  };
  const Tensor* cur = &x;
  const Tensor* cur_t = nullptr;
  for (std::size_t i = 0; i < upto; ++i) {
    const Dense* d = dense(i);
    if (!d) {
      layers_[i]->evaluate(*cur, ws.outputs[i]);
      cur = &ws.outputs[i];
      cur_t = nullptr;
      continue;
    }
    const bool fused = fused_dense(i, upto) != nullptr;
    const std::size_t out = fused ? i + 1 : i;
    Tensor* out_t = dense(out + 1) ? &ws.toutputs[out] : nullptr;
    d->evaluate_fused(*cur, ws.outputs[i], fused ? &layers_[i + 1]->spec() : nullptr,
                      fused ? &ws.outputs[i + 1] : nullptr, cur_t, out_t, ws.dense);
    cur = &ws.outputs[out];
    cur_t = out_t && out_t->rows() > 0 ? out_t : nullptr;
    i = out;
  }
  return *cur;
}

Sequential::TrainingClaim::TrainingClaim(Sequential& model) : model_(model), owner_(false) {
  std::thread::id none{};
  const std::thread::id me = std::this_thread::get_id();
  if (model.trainer_.compare_exchange_strong(none, me)) owner_ = true;
  else if (none != me)  // the same thread again (fit's steps) is the same training
    throw std::logic_error(
        "Sequential: this model is being trained by another thread; train one model from one thread at a time");
}

Sequential::TrainingClaim::~TrainingClaim() {
  if (owner_) model_.trainer_.store(std::thread::id{});
}

void Sequential::backward(const Tensor& dy, std::size_t upto, Tensor* dx) {
  upto = std::min(upto, layers_.size());
  if (!input_) throw std::logic_error("Sequential::backward called before forward");
  // Lowest layer that needs any gradient: the lowest trainable one with parameters, or the
  // input itself when dx is asked for.
  std::size_t lowest = upto;
  for (std::size_t i = 0; i < upto; ++i)
    if (layers_[i]->trainable() && layers_[i]->num_params() > 0) {
      lowest = i;
      break;
    }
  if (dx) lowest = 0;
  // Where x, y and ∂L/∂x of layer i live; dx only for the lowest layer, and only if asked for.
  auto input = [&](std::size_t i) -> const Tensor& { return i == 0 ? *input_ : outputs_[i - 1]; };
  auto input_grad = [&](std::size_t i) { return i > lowest ? &doutputs_[i - 1] : (i == 0 ? dx : nullptr); };
  // The first layer of the BatchNorm group that ends at layer i, or upto when none does.
  auto group_ending_at = [&](std::size_t i) {
    if (i >= 2 && batch_norm_group(i - 2, upto) == 3) return i - 2;
    if (i >= 1 && batch_norm_group(i - 1, upto) == 2) return i - 1;
    return upto;
  };
  for (std::size_t i = upto; i-- > lowest;) {
    const Tensor& g = i + 1 == upto ? dy : doutputs_[i];
    // (A group's start j is ≥ lowest whenever i is: its activation and dropout have no
    // parameters, so lowest is never inside a group.)
    if (const std::size_t j = group_ending_at(i); j < upto && j >= lowest) {
      static_cast<BatchNorm&>(*layers_[j]).backward_fused(input(j), outputs_[j],
                                                          followers(layers_, outputs_, j, i - j + 1), g,
                                                          doutputs_[j], input_grad(j));
      i = j;
      continue;
    }
    if (i > lowest) {
      if (Dense* d = fused_dense(i - 1, upto)) {
        d->backward_fused(input(i - 1), outputs_[i - 1], layers_[i]->spec(), outputs_[i], g,
                          doutputs_[i - 1], input_grad(i - 1));
        --i;
        continue;
      }
    }
    layers_[i]->backward(input(i), outputs_[i], g, input_grad(i));
  }
}

Sequential::State Sequential::snapshot() {
  State s{params_, {}, {}};
  for (auto& l : layers_) {
    for (auto& [name, t] : l->buffers()) s.buffers.push_back(*t);
    for (auto& [name, c] : l->counters()) s.counters.push_back(*c);
  }
  return s;
}

void Sequential::restore(const State& s) {
  if (s.params.size() != params_.size())
    throw std::invalid_argument("Sequential::restore: the state belongs to another architecture");
  params_ = s.params;
  std::size_t b = 0, c = 0;
  for (auto& l : layers_) {
    for (auto& [name, t] : l->buffers()) *t = s.buffers.at(b++);
    for (auto& [name, n] : l->counters()) *n = s.counters.at(c++);
  }
}

}  // namespace gradflow
