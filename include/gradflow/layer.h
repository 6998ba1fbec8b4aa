// Layer: one stage of a feed-forward network, with its forward and backward pass.
//
// Legend: B = batch size, I = in_features, O = out_features. Every tensor is row-major.
//
// Gradient rule (tested): backward ASSIGNS. It overwrites the gradient of each of the layer's
// parameters (nothing is accumulated across calls, so there is no zero_grad) and, when asked
// for, writes dx. A frozen layer (trainable() == false) leaves its parameter gradients as they
// were and does no work for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gradflow/cross_process.h"
#include "gradflow/init.h"
#include "gradflow/layer_kinds.h"
#include "gradflow/rng.h"
#include "gradflow/tensor.h"

namespace gradflow {

enum class Mode { Train, Eval };

// Each kind's arguments, with PyTorch's defaults.
struct DenseArgs {
  std::size_t units = 0;  // out_features
  bool bias = true;
  Init init = Init::Default;
  friend bool operator==(const DenseArgs&, const DenseArgs&) = default;
};
struct LeakyReluArgs {
  float negative_slope = 0.01f;
  friend bool operator==(const LeakyReluArgs&, const LeakyReluArgs&) = default;
};
struct RReluArgs {  // slope ~ U(lower, upper) in training, (lower + upper)/2 in evaluation
  float lower = 1.0f / 8.0f, upper = 1.0f / 3.0f;
  friend bool operator==(const RReluArgs&, const RReluArgs&) = default;
};
struct PReluArgs {
  bool per_unit = false;  // one slope per unit instead of one shared slope
  float init = 0.25f;
  friend bool operator==(const PReluArgs&, const PReluArgs&) = default;
};
struct EluArgs {
  float alpha = 1.0f;
  friend bool operator==(const EluArgs&, const EluArgs&) = default;
};
struct BatchNormArgs {
  float eps = 1e-5f;
  float momentum = 0.1f;  // running = (1 − momentum)·running + momentum·batch
  friend bool operator==(const BatchNormArgs&, const BatchNormArgs&) = default;
};
struct DropoutArgs {
  float p = 0.5f;  // probability of zeroing an element
  friend bool operator==(const DropoutArgs&, const DropoutArgs&) = default;
};
struct NoArgs {
  friend bool operator==(const NoArgs&, const NoArgs&) = default;
};

// What a layer is, independent of its input size: the unit a model description is made of. A
// kind carries its own arguments only (the builders below make them); asking a spec for another
// kind's throws std::bad_variant_access.
struct LayerSpec {
  using Args = std::variant<NoArgs, DenseArgs, LeakyReluArgs, RReluArgs, PReluArgs, EluArgs, BatchNormArgs, DropoutArgs>;
  LayerKind kind = LayerKind::Identity;
  Args args;

  const DenseArgs& dense() const { return std::get<DenseArgs>(args); }
  DenseArgs& dense() { return std::get<DenseArgs>(args); }
  const LeakyReluArgs& leaky_relu() const { return std::get<LeakyReluArgs>(args); }
  const RReluArgs& rrelu() const { return std::get<RReluArgs>(args); }
  const PReluArgs& prelu() const { return std::get<PReluArgs>(args); }
  const EluArgs& elu() const { return std::get<EluArgs>(args); }
  const BatchNormArgs& batch_norm() const { return std::get<BatchNormArgs>(args); }
  const DropoutArgs& dropout() const { return std::get<DropoutArgs>(args); }
  friend bool operator==(const LayerSpec&, const LayerSpec&) = default;
};

// Builders in the style of torch.nn: nn::dense(256), nn::relu(), ...
namespace nn {
LayerSpec dense(std::size_t units, Init init = Init::Default, bool bias = true);
LayerSpec identity();
LayerSpec sigmoid();
LayerSpec tanh();
LayerSpec relu();
LayerSpec leaky_relu(float negative_slope = 0.01f);
LayerSpec rrelu(float lower = 1.0f / 8.0f, float upper = 1.0f / 3.0f);
LayerSpec prelu(bool per_unit = false, float init = 0.25f);
LayerSpec elu(float alpha = 1.0f);
LayerSpec selu();
LayerSpec softmax();
LayerSpec batch_norm(float eps = 1e-5f, float momentum = 0.1f);
LayerSpec dropout(float p = 0.5f);
}  // namespace nn

// A builder's arguments by name (Python's gradflow.nn): numbers, flags and names.
using LayerArgValue = std::variant<double, bool, std::string>;
using LayerArgs = std::map<std::string, LayerArgValue, std::less<>>;
// The kind whose builder is `builder` ("leaky_relu", LayerKindInfo::builder) with the named
// arguments, the others at their registered defaults: build_layer("leaky_relu", {}) ==
// nn::leaky_relu(). Throws std::invalid_argument naming the builder and an unknown argument, a
// missing required one or a value of the wrong type.
LayerSpec build_layer(std::string_view builder, const LayerArgs& args);

// "relu", "leaky_relu", ... (layer_kinds()'s names); parse_activation accepts the names of the
// activations (and "linear"/"none" for identity) and throws std::invalid_argument listing them.
std::string_view to_string(LayerKind kind);
LayerSpec parse_activation(std::string_view name);
// The activations' names, comma-separated: "identity, sigmoid, …" (for help and messages).
std::string activation_names(std::string_view separator = ", ");
// ReLU, LeakyReLU, RReLU, PReLU, ELU: the kinds He initialization was derived for.
inline bool is_relu_family(LayerKind kind) { return has_trait(kind, kReluFamily); }
inline bool is_activation(LayerKind kind) { return has_trait(kind, kActivation); }

// The width of a layer's output on `width` inputs (a Dense's units; every other kind keeps the
// width), and the floats it holds in a model file (parameters and running statistics): what a
// memory estimate or a file reader computes from specs alone.
std::size_t output_width(const LayerSpec& spec, std::size_t width);
std::uint64_t state_floats(const LayerSpec& spec, std::uint64_t width);

struct ParamShape {
  std::string name;  // "weight", "bias": PyTorch's state_dict names
  std::size_t rows, cols;
  bool vector = false;  // a 1-D tensor [cols] in PyTorch (bias, PReLU weight); else [rows, cols]
};

class Layer {
 public:
  Layer(const LayerSpec& spec, std::size_t in_features, std::size_t out_features);
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const LayerSpec& spec() const { return spec_; }
  LayerKind kind() const { return spec_.kind; }
  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }
  // "Dense(784→256)", "ReLU(256)": used in every error message about this layer.
  virtual std::string name() const;

  // Parameters. The owner (a Sequential, or a test) allocates num_params() floats for values
  // and as many for gradients and calls bind(); the layer then views them as param_shapes().
  virtual std::vector<ParamShape> param_shapes() const { return {}; }
  std::size_t num_params() const;
  void bind(float* values, float* grads);
  std::span<Tensor> params() { return params_; }
  std::span<const Tensor> params() const { return params_; }
  std::span<Tensor> grads() { return grads_; }
  // Draw initial values (called after bind).
  virtual void init(Rng& rng) { (void)rng; }
  // Whether the parameter gradients the last backward wrote are all finite, for a kind that
  // checks them while it writes them (Dense: each tile of dW and each block of db, while in
  // cache); nullopt for the others, and before a backward with parameter gradients. A caller
  // that changes the gradients afterwards must scan them itself.
  virtual std::optional<bool> gradients_finite() const { return std::nullopt; }
  // State that is not trained by gradients but saved with the model (BatchNorm's running
  // statistics), as PyTorch's state_dict buffers: name and tensor.
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }
  // Integer state saved with the model (BatchNorm's num_batches_tracked, I64 in PyTorch).
  virtual std::vector<std::pair<std::string, std::int64_t*>> counters() { return {}; }

  bool trainable() const { return trainable_; }
  void set_trainable(bool on) { trainable_ = on; }
  // The position of the next forward's first row in the whole batch (data-parallel training
  // gives each process a slice): training noise that depends on a sample's place in the batch
  // (Dropout's mask) is then the same whichever process computes the sample.
  void set_first_row(std::size_t row) { first_row_ = row; }
  // Data-parallel training: a layer whose training statistics span the batch (BatchNorm)
  // computes them over every process's slice through `sum` (nullptr: over its own rows).
  virtual void synchronize_across(CrossProcessSum* sum) { (void)sum; }

  // y = f(x). x: [B, I]; y is resized to [B, O]. Throws std::invalid_argument naming the layer
  // and both shapes when x has the wrong number of features. rng supplies training noise.
  void forward(const Tensor& x, Tensor& y, Mode mode, Rng& rng);
  // y = f(x) in evaluation mode, writing nothing but y: const, so any number of threads may
  // evaluate one layer at once. The same values as forward(x, y, Mode::Eval, rng).
  void evaluate(const Tensor& x, Tensor& y) const;
  // Given x and y of the preceding forward call and dy = ∂L/∂y [B, O]: assigns the parameter
  // gradients (if trainable) and, if dx != nullptr, resizes it to [B, I] and writes ∂L/∂x.
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx);

 protected:
  // The checks of forward() and backward(): throw std::invalid_argument naming the layer and
  // the shapes.
  void check_input(const Tensor& x) const;
  void check_output_grad(const Tensor& x, const Tensor& dy) const;

  // A kind whose training forward is its evaluation (no noise, no statistics) overrides
  // evaluate_impl alone.
  virtual void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng);
  virtual void evaluate_impl(const Tensor& x, Tensor& y) const = 0;
  virtual void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                             bool param_grads) = 0;

  LayerSpec spec_;
  std::size_t in_, out_;
  std::vector<Tensor> params_, grads_;  // views into the owner's buffers
  bool trainable_ = true;
  bool bound_ = false;
  std::size_t first_row_ = 0;
  std::size_t bound_params_ = 0;
};

// Construct the layer a spec describes, for inputs of in_features. Init::Default must have
// been resolved for Dense (Sequential does that).
std::unique_ptr<Layer> make_layer(const LayerSpec& spec, std::size_t in_features);

}  // namespace gradflow
