// Internal: the whole registration of a layer kind (the public view is gradflow/layer_kinds.h;
// the table is in layer_kinds.cpp). To add a kind, add its LayerKind, its builder in nn::, and
// one KindRegistration: nothing else lists kinds — Python's builders, the model file's
// arguments and ONNX's op (for a kind that is one ONNX node) come from it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gradflow/layer.h"
#include "core/parallel.h"

namespace gradflow::detail {

// Which initializer a Dense gets by default from the kind after it — the lecture's pairing:
// He for the ReLU family, LeCun for SELU, Glorot otherwise. BatchNorm, Dropout and Identity
// sit between a Dense and its activation without changing it (Transparent: look further).
enum class InitPairing { Transparent, Glorot, He, LeCun };

// One layer of a model file's architecture being read; its errors name the layer.
struct ArchLayer {
  const nlohmann::json& args;  // the layer's JSON object: "type" and PyTorch's arguments
  std::size_t index;           // its position in the model
  std::size_t width;           // the width of its input
  [[noreturn]] void fail(const std::string& what) const;  // "layer K (Type): what"
  double number(const char* key) const;                   // a required number
  std::size_t size(const char* key) const;                // a required whole number in [1, 1e8]
};

// A builder's named arguments (LayerArgs) read against the kind's LayerArg list: what was given,
// else the registered default. Errors name the builder and the argument.
class BuilderArgs {
 public:
  BuilderArgs(const LayerKindInfo& kind, const LayerArgs& given);  // throws on an unknown argument
  double real(std::string_view name) const;
  std::size_t whole(std::string_view name) const;
  bool flag(std::string_view name) const;
  std::string text(std::string_view name) const;

 private:
  LayerArgValue value(std::string_view name, std::string_view type) const;
  const LayerKindInfo& kind_;
  const LayerArgs& given_;
};

// A kind that is one ONNX node with at most one float attribute (the simple activations): the
// ONNX writer and reader take it from here. Kinds with tensors or checks of their own (Dense,
// BatchNorm, PReLU, SELU, Softmax) and those without a node (Identity, Dropout) have op "".
struct OnnxOp {
  std::string_view op;                          // "LeakyRelu"
  std::string_view attr;                        // "alpha", or "" for none
  float (*value)(const LayerSpec&) = nullptr;   // the attribute from the spec (export)
  float attr_default = 0;                       // ONNX's value when a file leaves it out (import)
  LayerSpec (*read)(float attr) = nullptr;      // the kind an op imports as; nullptr: it exports only
};

using PointwiseForward = void (*)(const LayerSpec&, const Tensor& x, Tensor& y, parallel::Range rows,
                                  parallel::Range cols);
using PointwiseBackward = void (*)(const LayerSpec&, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                                   parallel::Range rows, parallel::Range cols);

struct KindRegistration {
  LayerKindInfo info;
  InitPairing pairing;
  // The argument that gives the model's input width when this kind is its first layer.
  const char* width_key;
  std::unique_ptr<Layer> (*make)(const LayerSpec&, std::size_t in_features);
  // PyTorch's constructor arguments (beyond "type"), written and read back.
  void (*write_args)(const Layer&, nlohmann::json&);
  LayerSpec (*read_args)(const ArchLayer&);
  // The kind with its arguments at their defaults (PyTorch's): what --layers 64:NAME builds.
  LayerSpec (*defaults)();
  // Floats (and I64 counters, two floats each) the kind holds in a state_dict, from its spec.
  std::uint64_t (*state_floats)(const LayerSpec&, std::uint64_t width);
  // kPointwise kinds: y = f(x) and dx = dy·f'(x) over a block of rows and columns.
  PointwiseForward forward = nullptr;
  PointwiseBackward backward = nullptr;
  // kPointwise kinds: the forward's cost per element in parallel.h's units (pointwise.h).
  double forward_cost = 0;
  // The kind from its builder's named arguments (build_layer, Python's gradflow.nn).
  LayerSpec (*build)(const BuilderArgs&) = nullptr;
  OnnxOp onnx{};
};

// Every registration, in LayerKind order.
std::span<const KindRegistration> registrations();

const KindRegistration& registration(LayerKind kind);
// The kind whose torch.nn class this is; nullptr for none.
const KindRegistration* registration_of_torch_class(std::string_view torch_class);

}  // namespace gradflow::detail
