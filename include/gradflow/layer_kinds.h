// Layer kinds: what each one is, registered once (src/layer_kinds.cpp holds the table).
//
// A kind's registration gives its CLI/config name, PyTorch's class name (the model file's
// "type"), its traits, the initializer a Dense before it gets by default, its PyTorch
// constructor arguments in both directions, the size of its saved state, its point-wise
// kernels if it is point-wise, and its factory. Everything that asks about a kind — the CLI's
// parsing and help, the model file, the default initializer, the diagnostics, the report —
// reads the table; nothing else lists kinds.
#pragma once

#include <span>
#include <string_view>

namespace gradflow {

enum class LayerKind {
  Dense,
  Identity,
  Sigmoid,
  Tanh,
  ReLU,
  LeakyReLU,
  RReLU,
  PReLU,
  ELU,
  SELU,
  Softmax,
  BatchNorm,
  Dropout,
};

// What a kind is, as bits of LayerKindInfo::traits.
enum LayerTrait : unsigned {
  kActivation = 1u << 0,  // an activation function (--layers UNITS:NAME, --output NAME)
  kReluFamily = 1u << 1,  // ReLU-like: He initialization's kind; its units can die (diagnostics)
  kSaturating = 1u << 2,  // bounded output that saturates (sigmoid, tanh; diagnostics)
  kPointwise = 1u << 3,   // y depends on x element by element, no parameters, no noise: a Dense
                          // before it runs it as its fused epilogue
};

// An argument of a kind's builder (nn::NAME in C++, gradflow.nn.NAME in Python, which is made
// from these): its name, its type ("int", "float", "bool" or "str"), its default as written
// ("" when it is required) and what it means.
struct LayerArg {
  std::string_view name, type, default_value, help;
};

struct LayerKindInfo {
  LayerKind kind;
  std::string_view name;         // "leaky_relu": the CLI's and the config's name
  std::string_view torch_class;  // "LeakyReLU": torch.nn's class, the model file's "type"
  unsigned traits;               // LayerTrait bits
  float low = 0, high = 0;       // kSaturating: the output's bounds (within 0.01 of one: saturated)
  std::string_view builder{};    // "batch_norm": nn::'s (and Python's gradflow.nn's) function
  std::span<const LayerArg> args{};  // the builder's arguments, in order
  std::string_view summary{};    // one line: what the kind computes
};

// Every registered kind, in LayerKind order.
std::span<const LayerKindInfo> layer_kinds();
const LayerKindInfo& layer_kind(LayerKind kind);
inline bool has_trait(LayerKind kind, LayerTrait t) { return (layer_kind(kind).traits & t) != 0; }

}  // namespace gradflow
