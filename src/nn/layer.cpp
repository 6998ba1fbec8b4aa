#include "gradflow/layer.h"

#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

#include "nn/layer_registry.h"

namespace gradflow {

namespace nn {
LayerSpec dense(std::size_t units, Init init, bool bias) {
  return {LayerKind::Dense, DenseArgs{.units = units, .bias = bias, .init = init}};
}
LayerSpec identity() { return {LayerKind::Identity, NoArgs{}}; }
LayerSpec sigmoid() { return {LayerKind::Sigmoid, NoArgs{}}; }
LayerSpec tanh() { return {LayerKind::Tanh, NoArgs{}}; }
LayerSpec relu() { return {LayerKind::ReLU, NoArgs{}}; }
LayerSpec leaky_relu(float negative_slope) { return {LayerKind::LeakyReLU, LeakyReluArgs{negative_slope}}; }
LayerSpec rrelu(float lower, float upper) { return {LayerKind::RReLU, RReluArgs{lower, upper}}; }
LayerSpec prelu(bool per_unit, float init) { return {LayerKind::PReLU, PReluArgs{per_unit, init}}; }
LayerSpec elu(float alpha) { return {LayerKind::ELU, EluArgs{alpha}}; }
LayerSpec selu() { return {LayerKind::SELU, NoArgs{}}; }
LayerSpec softmax() { return {LayerKind::Softmax, NoArgs{}}; }
LayerSpec batch_norm(float eps, float momentum) { return {LayerKind::BatchNorm, BatchNormArgs{eps, momentum}}; }
LayerSpec dropout(float p) { return {LayerKind::Dropout, DropoutArgs{p}}; }
}  // namespace nn

std::string_view to_string(LayerKind kind) { return layer_kind(kind).name; }

std::string activation_names(std::string_view separator) {
  std::string s;
  for (const auto& k : layer_kinds())
    if (k.traits & kActivation) s += (s.empty() ? "" : std::string(separator)) + std::string(k.name);
  return s;
}

LayerSpec parse_activation(std::string_view name) {
  for (const auto& k : layer_kinds())
    if ((k.traits & kActivation) && k.name == name) return detail::registration(k.kind).defaults();
  if (name == "linear" || name == "none") return nn::identity();
  throw std::invalid_argument(fmt::format("unknown activation '{}' (expected one of {})", detail::quote(name), activation_names()));
}

Layer::Layer(const LayerSpec& spec, std::size_t in_features, std::size_t out_features)
    : spec_(spec), in_(in_features), out_(out_features) {}

std::string Layer::name() const { return fmt::format("{}({})", layer_kind(kind()).torch_class, out_); }

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

void Layer::evaluate(const Tensor& x, Tensor& y) const {
  check_input(x);
  y.resize(x.rows(), out_);
  evaluate_impl(x, y);
}

void Layer::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) { evaluate_impl(x, y); }

void Layer::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_output_grad(x, dy);
  if (dx) dx->resize(x.rows(), in_);
  backward_impl(x, y, dy, dx, trainable_ && !params_.empty());
}

std::unique_ptr<Layer> make_layer(const LayerSpec& spec, std::size_t in) {
  return detail::registration(spec.kind).make(spec, in);
}

}  // namespace gradflow
