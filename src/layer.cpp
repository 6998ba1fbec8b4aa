#include "gradflow/layer.h"

#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/activations.h"
#include "gradflow/batchnorm.h"
#include "gradflow/dropout.h"
#include "gradflow/dense.h"

namespace gradflow {

namespace nn {
LayerSpec dense(std::size_t units, Init init, bool bias) {
  LayerSpec s{.kind = LayerKind::Dense};
  s.units = units;
  s.init = init;
  s.bias = bias;
  return s;
}
LayerSpec identity() { return {.kind = LayerKind::Identity}; }
LayerSpec sigmoid() { return {.kind = LayerKind::Sigmoid}; }
LayerSpec tanh() { return {.kind = LayerKind::Tanh}; }
LayerSpec relu() { return {.kind = LayerKind::ReLU}; }
LayerSpec leaky_relu(float negative_slope) {
  LayerSpec s{.kind = LayerKind::LeakyReLU};
  s.negative_slope = negative_slope;
  return s;
}
LayerSpec rrelu(float lower, float upper) {
  LayerSpec s{.kind = LayerKind::RReLU};
  s.lower = lower;
  s.upper = upper;
  return s;
}
LayerSpec prelu(bool per_unit, float init) {
  LayerSpec s{.kind = LayerKind::PReLU};
  s.per_unit = per_unit;
  s.init_slope = init;
  return s;
}
LayerSpec elu(float alpha) {
  LayerSpec s{.kind = LayerKind::ELU};
  s.alpha = alpha;
  return s;
}
LayerSpec selu() { return {.kind = LayerKind::SELU}; }
LayerSpec softmax() { return {.kind = LayerKind::Softmax}; }
LayerSpec batch_norm(float eps, float momentum) {
  LayerSpec s{.kind = LayerKind::BatchNorm};
  s.eps = eps;
  s.momentum = momentum;
  return s;
}
LayerSpec dropout(float p) {
  LayerSpec s{.kind = LayerKind::Dropout};
  s.p = p;
  return s;
}
}  // namespace nn

namespace {
struct KindName {
  LayerKind kind;
  std::string_view name;   // CLI / config name
  std::string_view title;  // display name (PyTorch's class name)
};
constexpr KindName kKinds[] = {
    {LayerKind::Dense, "dense", "Dense"},
    {LayerKind::Identity, "identity", "Identity"},
    {LayerKind::Sigmoid, "sigmoid", "Sigmoid"},
    {LayerKind::Tanh, "tanh", "Tanh"},
    {LayerKind::ReLU, "relu", "ReLU"},
    {LayerKind::LeakyReLU, "leaky_relu", "LeakyReLU"},
    {LayerKind::RReLU, "rrelu", "RReLU"},
    {LayerKind::PReLU, "prelu", "PReLU"},
    {LayerKind::ELU, "elu", "ELU"},
    {LayerKind::SELU, "selu", "SELU"},
    {LayerKind::Softmax, "softmax", "Softmax"},
    {LayerKind::BatchNorm, "batchnorm", "BatchNorm"},
    {LayerKind::Dropout, "dropout", "Dropout"},
};
const KindName& kind_name(LayerKind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k;
  throw std::logic_error("unknown LayerKind");
}
}  // namespace

std::string_view to_string(LayerKind kind) { return kind_name(kind).name; }

LayerSpec parse_activation(std::string_view name) {
  for (const auto& k : kKinds)
    if (is_activation(k.kind) && k.name == name) return LayerSpec{.kind = k.kind};
  if (name == "linear" || name == "none") return nn::identity();
  throw std::invalid_argument(fmt::format(
      "unknown activation '{}' (expected identity, sigmoid, tanh, relu, leaky_relu, rrelu, "
      "prelu, elu, selu or softmax)",
      name));
}

bool is_relu_family(LayerKind kind) {
  return kind == LayerKind::ReLU || kind == LayerKind::LeakyReLU || kind == LayerKind::RReLU ||
         kind == LayerKind::PReLU || kind == LayerKind::ELU;
}

bool is_activation(LayerKind kind) {
  return kind != LayerKind::Dense && kind != LayerKind::BatchNorm && kind != LayerKind::Dropout;
}

Layer::Layer(const LayerSpec& spec, std::size_t in_features, std::size_t out_features)
    : spec_(spec), in_(in_features), out_(out_features) {}

std::string Layer::name() const {
  if (kind() == LayerKind::Dense) return fmt::format("Dense({}→{})", in_, out_);
  if (kind() == LayerKind::Dropout) return fmt::format("Dropout(p={})", spec_.p);
  return fmt::format("{}({})", kind_name(kind()).title, out_);
}

std::size_t Layer::num_params() const {
  if (bound_) return bound_params_;  // the hot path: no param_shapes() vector built per step
  std::size_t n = 0;
  for (const auto& s : param_shapes()) n += s.rows * s.cols;
  return n;
}

void Layer::bind(float* values, float* grads) {
  params_.clear();
  grads_.clear();
  for (const auto& s : param_shapes()) {
    params_.push_back(Tensor::view(values, s.rows, s.cols));
    grads_.push_back(Tensor::view(grads, s.rows, s.cols));
    values += s.rows * s.cols;
    grads += s.rows * s.cols;
  }
  bound_params_ = 0;
  for (const auto& p : params_) bound_params_ += p.size();
  bound_ = true;
}

void Layer::check_input(const Tensor& x) const {
  if (x.cols() != in_)
    throw std::invalid_argument(
        fmt::format("{}: input has {} features (shape {}), expected {}", name(), x.cols(),
                    x.shape_str(), in_));
}

void Layer::check_output_grad(const Tensor& x, const Tensor& dy) const {
  if (dy.rows() != x.rows() || dy.cols() != out_)
    throw std::invalid_argument(fmt::format("{}: output gradient has shape {}, expected [{}, {}]",
                                            name(), dy.shape_str(), x.rows(), out_));
}

void Layer::forward(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  check_input(x);
  y.resize(x.rows(), out_);
  forward_impl(x, y, mode, rng);
}

void Layer::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_output_grad(x, dy);
  if (dx) dx->resize(x.rows(), in_);
  backward_impl(x, y, dy, dx, trainable_ && !params_.empty());
}

std::unique_ptr<Layer> make_layer(const LayerSpec& spec, std::size_t in) {
  switch (spec.kind) {
    case LayerKind::Dense: return std::make_unique<Dense>(spec, in);
    case LayerKind::Identity: return std::make_unique<Identity>(spec, in);
    case LayerKind::Sigmoid: return std::make_unique<Sigmoid>(spec, in);
    case LayerKind::Tanh: return std::make_unique<Tanh>(spec, in);
    case LayerKind::ReLU: return std::make_unique<ReLU>(spec, in);
    case LayerKind::LeakyReLU: return std::make_unique<LeakyReLU>(spec, in);
    case LayerKind::RReLU: return std::make_unique<RReLU>(spec, in);
    case LayerKind::PReLU: return std::make_unique<PReLU>(spec, in);
    case LayerKind::ELU: return std::make_unique<ELU>(spec, in);
    case LayerKind::SELU: return std::make_unique<SELU>(spec, in);
    case LayerKind::Softmax: return std::make_unique<Softmax>(spec, in);
    case LayerKind::BatchNorm: return std::make_unique<BatchNorm>(spec, in);
    case LayerKind::Dropout: return std::make_unique<Dropout>(spec, in);
  }
  throw std::logic_error("make_layer: unknown kind");
}

}  // namespace gradflow
