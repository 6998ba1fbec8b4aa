// The layer kinds, one registration each (see layer_registry.h for the fields).
#include <array>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/activations.h"
#include "gradflow/batchnorm.h"
#include "gradflow/dense.h"
#include "gradflow/dropout.h"

#include "nn/layer_registry.h"
#include "nn/pointwise.h"

namespace gradflow {

namespace detail {

using nlohmann::json;

void ArchLayer::fail(const std::string& what) const {
  throw std::runtime_error(fmt::format("layer {} ({}): {}", index, args.value("type", "?"), what));
}

double ArchLayer::number(const char* key) const {
  if (!args.contains(key) || !args[key].is_number()) fail(fmt::format("missing number '{}'", key));
  return args[key].get<double>();
}

std::size_t ArchLayer::size(const char* key) const {
  const double v = number(key);
  if (v < 1 || v > 1e8 || v != static_cast<double>(static_cast<std::size_t>(v)))
    fail(fmt::format("'{}' = {} is not a valid size", key, v));
  return static_cast<std::size_t>(v);
}

namespace {

template <class L>
std::unique_ptr<Layer> make(const LayerSpec& s, std::size_t in) {
  return std::make_unique<L>(s, in);
}
std::unique_ptr<Layer> make_pointwise(const LayerSpec& s, std::size_t in) {
  return std::make_unique<PointwiseActivation>(s, in);
}
void no_args(const Layer&, json&) {}
std::uint64_t stateless(const LayerSpec&, std::uint64_t) { return 0; }
float as_float(double v) { return static_cast<float>(v); }

// A point-wise activation computed by Op, with its PyTorch arguments written and read.
template <class Op>
constexpr KindRegistration pointwise(LayerKind kind, std::string_view name, std::string_view torch_class,
                                     unsigned traits, InitPairing pairing, void (*write_args)(const Layer&, json&),
                                     LayerSpec (*read_args)(const ArchLayer&), LayerSpec (*defaults)(), float low = 0,
                                     float high = 0) {
  return {{kind, name, torch_class, traits | kActivation | kPointwise, low, high},
          pairing,
          "in_features",
          make_pointwise,
          write_args,
          read_args,
          defaults,
          stateless,
          pointwise::forward_cols<Op>,
          pointwise::backward_cols<Op>,
          pointwise::element_cost<Op>()};
}
// …and one without arguments, built by `builder`.
template <class Op, LayerSpec (*builder)()>
constexpr KindRegistration pointwise(LayerKind kind, std::string_view name, std::string_view torch_class,
                                     unsigned traits, InitPairing pairing, float low = 0, float high = 0) {
  return pointwise<Op>(kind, name, torch_class, traits, pairing, no_args,
                       [](const ArchLayer&) { return builder(); }, builder, low, high);
}

// In LayerKind order.
constexpr std::array<KindRegistration, 13> kKinds = {{
    {{LayerKind::Dense, "dense", "Linear", 0},
     InitPairing::Glorot,
     "in_features",
     make<Dense>,
     [](const Layer& l, json& j) {
       j["in_features"] = l.in_features();
       j["out_features"] = l.out_features();
       j["bias"] = l.spec().dense().bias;
       j["init"] = to_string(l.spec().dense().init);
     },
     [](const ArchLayer& a) {
       const std::size_t in = a.size("in_features");
       if (in != a.width) a.fail(fmt::format("in_features {} but the previous layer gives {}", in, a.width));
       return nn::dense(a.size("out_features"),
                        a.args.contains("init") ? parse_init(a.args["init"].get<std::string>()) : Init::Default,
                        a.args.value("bias", true));
     },
     [] { return nn::dense(1); },
     [](const LayerSpec& s, std::uint64_t width) -> std::uint64_t { return width * s.dense().units + (s.dense().bias ? s.dense().units : 0); }},
    pointwise<pointwise::IdentityOp, nn::identity>(LayerKind::Identity, "identity", "Identity", 0,
                                                    InitPairing::Transparent),
    pointwise<pointwise::SigmoidOp, nn::sigmoid>(LayerKind::Sigmoid, "sigmoid", "Sigmoid", kSaturating,
                                                  InitPairing::Glorot, 0, 1),
    pointwise<pointwise::TanhOp, nn::tanh>(LayerKind::Tanh, "tanh", "Tanh", kSaturating, InitPairing::Glorot, -1, 1),
    pointwise<pointwise::ReluOp, nn::relu>(LayerKind::ReLU, "relu", "ReLU", kReluFamily, InitPairing::He),
    pointwise<pointwise::LeakyReluOp>(
        LayerKind::LeakyReLU, "leaky_relu", "LeakyReLU", kReluFamily, InitPairing::He,
        [](const Layer& l, json& j) { j["negative_slope"] = l.spec().leaky_relu().negative_slope; },
        [](const ArchLayer& a) { return nn::leaky_relu(as_float(a.number("negative_slope"))); },
        [] { return nn::leaky_relu(); }),
    {{LayerKind::RReLU, "rrelu", "RReLU", kActivation | kReluFamily},
     InitPairing::He,
     "in_features",
     make<RReLU>,
     [](const Layer& l, json& j) {
       j["lower"] = l.spec().rrelu().lower;
       j["upper"] = l.spec().rrelu().upper;
     },
     [](const ArchLayer& a) { return nn::rrelu(as_float(a.number("lower")), as_float(a.number("upper"))); },
     [] { return nn::rrelu(); },
     stateless},
    {{LayerKind::PReLU, "prelu", "PReLU", kActivation | kReluFamily},
     InitPairing::He,
     "in_features",
     make<PReLU>,
     [](const Layer& l, json& j) {
       j["num_parameters"] = l.spec().prelu().per_unit ? l.in_features() : 1;
       j["init"] = l.spec().prelu().init;
     },
     [](const ArchLayer& a) {
       const std::size_t n = a.size("num_parameters");
       if (n != 1 && n != a.width) a.fail(fmt::format("num_parameters {} must be 1 or {}", n, a.width));
       return nn::prelu(n != 1, as_float(a.args.value("init", 0.25)));
     },
     [] { return nn::prelu(); },
     [](const LayerSpec& s, std::uint64_t width) -> std::uint64_t { return s.prelu().per_unit ? width : 1; }},
    pointwise<pointwise::EluOp>(
        LayerKind::ELU, "elu", "ELU", kReluFamily, InitPairing::He,
        [](const Layer& l, json& j) { j["alpha"] = l.spec().elu().alpha; },
        [](const ArchLayer& a) { return nn::elu(as_float(a.number("alpha"))); },
        [] { return nn::elu(); }),
    pointwise<pointwise::SeluOp, nn::selu>(LayerKind::SELU, "selu", "SELU", 0, InitPairing::LeCun),
    {{LayerKind::Softmax, "softmax", "Softmax", kActivation},
     InitPairing::Glorot,
     "in_features",
     make<Softmax>,
     [](const Layer&, json& j) { j["dim"] = 1; },
     [](const ArchLayer& a) {
       if (a.args.value("dim", 1) != 1) a.fail("only dim=1 (over a sample's outputs) is supported");
       return nn::softmax();
     },
     nn::softmax,
     stateless},
    {{LayerKind::BatchNorm, "batchnorm", "BatchNorm1d", 0},
     InitPairing::Transparent,
     "num_features",
     make<BatchNorm>,
     [](const Layer& l, json& j) {
       j["num_features"] = l.in_features();
       j["eps"] = l.spec().batch_norm().eps;
       j["momentum"] = l.spec().batch_norm().momentum;
       j["affine"] = true;
     },
     [](const ArchLayer& a) {
       if (a.size("num_features") != a.width)
         a.fail(fmt::format("num_features {} but the previous layer gives {}", a.size("num_features"), a.width));
       if (!a.args.value("affine", true)) a.fail("affine=false is not supported");
       return nn::batch_norm(as_float(a.number("eps")), as_float(a.number("momentum")));
     },
     [] { return nn::batch_norm(); },
     // γ, β, running mean and variance, and the I64 batch counter.
     [](const LayerSpec&, std::uint64_t width) -> std::uint64_t { return 4 * width + 2; }},
    {{LayerKind::Dropout, "dropout", "Dropout", 0},
     InitPairing::Transparent,
     "in_features",
     make<Dropout>,
     [](const Layer& l, json& j) { j["p"] = l.spec().dropout().p; },
     [](const ArchLayer& a) {
       const double p = a.number("p");
       if (!(p >= 0 && p <= 1)) a.fail(fmt::format("p = {} is not in [0, 1]", p));
       return nn::dropout(as_float(p));
     },
     [] { return nn::dropout(); },
     stateless},
}};

// The table is in LayerKind order, every kind once (checked at compile time).
constexpr bool in_order() {
  for (std::size_t i = 0; i < kKinds.size(); ++i)
    if (static_cast<std::size_t>(kKinds[i].info.kind) != i) return false;
  return kKinds.back().info.kind == LayerKind::Dropout;
}
static_assert(in_order(), "kKinds lists every LayerKind once, in order");

const std::array<LayerKindInfo, kKinds.size()> kInfos = [] {
  std::array<LayerKindInfo, kKinds.size()> a{};
  for (std::size_t i = 0; i < kKinds.size(); ++i) a[i] = kKinds[i].info;
  return a;
}();

}  // namespace

const KindRegistration& registration(LayerKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  if (i >= kKinds.size()) throw std::logic_error("unregistered LayerKind");
  return kKinds[i];
}

const KindRegistration* registration_of_torch_class(std::string_view torch_class) {
  for (const auto& k : kKinds)
    if (k.info.torch_class == torch_class) return &k;
  return nullptr;
}

}  // namespace detail

std::span<const LayerKindInfo> layer_kinds() { return detail::kInfos; }
const LayerKindInfo& layer_kind(LayerKind kind) { return detail::registration(kind).info; }

namespace pointwise {
void forward(const LayerSpec& act, const Tensor& x, Tensor& y, parallel::Range rows, parallel::Range cols) {
  const detail::PointwiseForward f = detail::registration(act.kind).forward;
  if (!f) throw std::logic_error("pointwise::forward: not a point-wise activation");
  f(act, x, y, rows, cols);
}
double forward_cost(const LayerSpec& act) { return detail::registration(act.kind).forward_cost; }
void backward(const LayerSpec& act, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
              parallel::Range rows, parallel::Range cols) {
  const detail::PointwiseBackward g = detail::registration(act.kind).backward;
  if (!g) throw std::logic_error("pointwise::backward: not a point-wise activation");
  g(act, x, y, dy, dx, rows, cols);
}
}  // namespace pointwise

std::size_t output_width(const LayerSpec& spec, std::size_t width) {
  return spec.kind == LayerKind::Dense ? spec.dense().units : width;
}

std::uint64_t state_floats(const LayerSpec& spec, std::uint64_t width) {
  return detail::registration(spec.kind).state_floats(spec, width);
}

}  // namespace gradflow
