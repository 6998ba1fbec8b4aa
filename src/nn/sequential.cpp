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
  plan_ = make_plan(layers_);
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

std::vector<Sequential::Stage> Sequential::make_plan(const std::vector<std::unique_ptr<Layer>>& layers) {
  std::vector<Stage> plan;
  const auto kind = [&](std::size_t i) { return i < layers.size() ? layers[i]->kind() : LayerKind::Identity; };
  const auto pointwise = [&](std::size_t i) { return i < layers.size() && pointwise::is_pointwise(kind(i)); };
  for (std::size_t i = 0; i < layers.size();) {
    Stage s{Stage::Single, i, 1};
    if (kind(i) == LayerKind::Dense && pointwise(i + 1)) s = {Stage::DensePair, i, 2};
    else if (kind(i) == LayerKind::BatchNorm && pointwise(i + 1))
      s = {Stage::BatchNormGroup, i, kind(i + 2) == LayerKind::Dropout ? 3u : 2u};
    plan.push_back(s);
    i += s.count;
  }
  return plan;
}

Sequential::Stages Sequential::stages(std::size_t upto) const {
  Stages s{plan_.data(), 0, {Stage::Single, 0, 0}};
  while (s.n < plan_.size() && plan_[s.n].last() < upto) ++s.n;
  if (s.n < plan_.size() && plan_[s.n].first < upto) {
    const Stage& c = plan_[s.n];
    s.cut = c.kind == Stage::BatchNormGroup && upto - c.first >= 2 ? Stage{c.kind, c.first, 2} : Stage{Stage::Single, c.first, 1};
  }
  return s;
}

bool Sequential::group_runs_fused(const Stage& s) const {
  return s.kind == Stage::BatchNormGroup && !static_cast<const BatchNorm&>(*layers_[s.first]).synchronized();
}

const Tensor& Sequential::forward(const Tensor& x, Mode mode, std::size_t upto) {
  upto = std::min(upto, layers_.size());
  if (x.cols() != in_features_)
    throw std::invalid_argument(fmt::format("{}: input has {} features (shape {}), expected {}",
                                            layers_[0]->name(), x.cols(), x.shape_str(),
                                            in_features_));
  if (x.rows() == 0) throw std::invalid_argument("Sequential::forward: empty batch");
  input_ = &x;
  const Stages walk = stages(upto);
  const Tensor* cur = &x;
  const Tensor* cur_t = nullptr;  // cur transposed, when the Dense that wrote it wrote that too
  for (std::size_t k = 0; k < walk.size(); ++k) {
    const Stage& s = walk[k];
    if (group_runs_fused(s)) {
      static_cast<BatchNorm&>(*layers_[s.first])
          .forward_fused(*cur, outputs_[s.first], followers(layers_, outputs_, s.first, s.count), mode, rng_);
    } else if (layers_[s.first]->kind() != LayerKind::Dense) {
      for (std::size_t i = s.first; i <= s.last(); ++i) layers_[i]->forward(i == s.first ? *cur : outputs_[i - 1], outputs_[i], mode, rng_);
    } else {
      // A Dense (with its activation) also writes its output transposed when a Dense reads it next.
      const bool pair = s.kind == Stage::DensePair;
      const bool dense_next = k + 1 < walk.size() && layers_[walk[k + 1].first]->kind() == LayerKind::Dense;
      Tensor* out_t = dense_next ? &toutputs_[s.last()] : nullptr;
      static_cast<Dense&>(*layers_[s.first])
          .forward_fused(*cur, outputs_[s.first], pair ? &layers_[s.first + 1]->spec() : nullptr,
                         pair ? &outputs_[s.first + 1] : nullptr, cur_t, out_t);
      cur = &outputs_[s.last()];
      cur_t = out_t && out_t->rows() > 0 ? out_t : nullptr;
      continue;
    }
    cur = &outputs_[s.last()];
    cur_t = nullptr;
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
  const Stages walk = stages(upto);
  const Tensor* cur = &x;
  const Tensor* cur_t = nullptr;
  for (std::size_t k = 0; k < walk.size(); ++k) {
    const Stage& s = walk[k];
    if (layers_[s.first]->kind() != LayerKind::Dense) {
      for (std::size_t i = s.first; i <= s.last(); ++i) layers_[i]->evaluate(i == s.first ? *cur : ws.outputs[i - 1], ws.outputs[i]);
      cur = &ws.outputs[s.last()];
      cur_t = nullptr;
      continue;
    }
    const bool pair = s.kind == Stage::DensePair;
    const bool dense_next = k + 1 < walk.size() && layers_[walk[k + 1].first]->kind() == LayerKind::Dense;
    Tensor* out_t = dense_next ? &ws.toutputs[s.last()] : nullptr;
    static_cast<const Dense&>(*layers_[s.first])
        .evaluate_fused(*cur, ws.outputs[s.first], pair ? &layers_[s.first + 1]->spec() : nullptr,
                        pair ? &ws.outputs[s.first + 1] : nullptr, cur_t, out_t, ws.dense);
    cur = &ws.outputs[s.last()];
    cur_t = out_t && out_t->rows() > 0 ? out_t : nullptr;
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
  const Stages walk = stages(upto);
  const auto grad = [&](std::size_t i) -> const Tensor& { return i + 1 == upto ? dy : doutputs_[i]; };
  for (std::size_t k = walk.size(); k-- > 0;) {
    const Stage& s = walk[k];
    if (s.last() < lowest) break;
    // (A stage never straddles lowest: its activation and dropout have no parameters.)
    if (s.first >= lowest && group_runs_fused(s)) {
      static_cast<BatchNorm&>(*layers_[s.first])
          .backward_fused(input(s.first), outputs_[s.first], followers(layers_, outputs_, s.first, s.count),
                          grad(s.last()), doutputs_[s.first], input_grad(s.first));
    } else if (s.first >= lowest && s.kind == Stage::DensePair) {
      static_cast<Dense&>(*layers_[s.first])
          .backward_fused(input(s.first), outputs_[s.first], layers_[s.first + 1]->spec(), outputs_[s.first + 1],
                          grad(s.last()), doutputs_[s.first], input_grad(s.first));
    } else {
      for (std::size_t i = s.last() + 1; i-- > std::max(s.first, lowest);)
        layers_[i]->backward(input(i), outputs_[i], grad(i), input_grad(i));
    }
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
