// The layer kinds, one registration each (see layer_registry.h for the fields).
#include <algorithm>
#include <array>
#include <string>
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

// The builders' arguments (LayerKindInfo::args): each default written once, here, as Python
// shows it; test_registry checks that nn::NAME() agrees.
constexpr LayerArg kDenseArgs[] = {
    {"units", "int", "", "out_features: the layer's outputs"},
    {"init", "str", "default",
     "default (by the activation after it), normal, glorot_normal, glorot_uniform, lecun_normal, lecun_uniform, "
     "he_normal, he_uniform"},
    {"bias", "bool", "True", "whether the layer adds a bias b"}};
constexpr LayerArg kLeakyReluArgs[] = {{"negative_slope", "float", "0.01", "the slope for x < 0"}};
constexpr LayerArg kRReluArgs[] = {
    {"lower", "float", "0.125", "the smallest slope drawn for x < 0 in training"},
    {"upper", "float", "0.3333333333333333", "the largest; evaluation uses (lower + upper) / 2"}};
constexpr LayerArg kPReluArgs[] = {{"per_unit", "bool", "False", "one slope per unit instead of one shared slope"},
                                   {"init", "float", "0.25", "the slopes' initial value"}};
constexpr LayerArg kEluArgs[] = {{"alpha", "float", "1.0", "the value approached as x -> -inf: alpha (e^x - 1)"}};
constexpr LayerArg kBatchNormArgs[] = {
    {"eps", "float", "1e-05", "added to the variance"},
    {"momentum", "float", "0.1", "running = (1 - momentum) running + momentum batch"}};
constexpr LayerArg kDropoutArgs[] = {{"p", "float", "0.5", "the probability of zeroing an element in training"}};

constexpr LayerKindInfo info(LayerKind kind, std::string_view name, std::string_view torch_class, unsigned traits,
                   std::string_view summary, std::span<const LayerArg> args = {}, std::string_view builder = {},
                   float low = 0, float high = 0) {
  return {kind, name, torch_class, traits, low, high, builder.empty() ? name : builder, args, summary};
}

// A point-wise activation computed by Op; its PyTorch arguments written and read, its builder,
// its ONNX node.
template <class Op>
constexpr KindRegistration pointwise(LayerKindInfo i, InitPairing pairing, void (*write_args)(const Layer&, json&),
                           LayerSpec (*read_args)(const ArchLayer&), LayerSpec (*defaults)(),
                           LayerSpec (*build)(const BuilderArgs&), OnnxOp onnx) {
  i.traits |= kActivation | kPointwise;
  return {i,
          pairing,
          "in_features",
          make_pointwise,
          write_args,
          read_args,
          defaults,
          stateless,
          pointwise::forward_cols<Op>,
          pointwise::backward_cols<Op>,
          pointwise::element_cost<Op>(),
          build,
          onnx};
}
// …and one without arguments, built by `builder`, one ONNX node `op` without attributes (or none).
template <class Op, LayerSpec (*builder)()>
constexpr KindRegistration pointwise(LayerKindInfo i, InitPairing pairing, std::string_view op) {
  LayerSpec (*read)(float) = [](float) { return builder(); };
  return pointwise<Op>(i, pairing, no_args, [](const ArchLayer&) { return builder(); }, builder,
                       [](const BuilderArgs&) { return builder(); }, {op, "", nullptr, 0, op.empty() ? nullptr : read});
}

// In LayerKind order.
constexpr std::array<KindRegistration, 13> kKinds = {{
    {info(LayerKind::Dense, "dense", "Linear", 0, "y = x W^T + b, W [units, in] as nn.Linear", kDenseArgs),
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
     [](const LayerSpec& s, std::uint64_t width) -> std::uint64_t { return width * s.dense().units + (s.dense().bias ? s.dense().units : 0); },
     nullptr, nullptr, 0,
     [](const BuilderArgs& a) { return nn::dense(a.whole("units"), parse_init(a.text("init")), a.flag("bias")); }},
    pointwise<pointwise::IdentityOp, nn::identity>(info(LayerKind::Identity, "identity", "Identity", 0, "y = x"),
                                                    InitPairing::Transparent, ""),
    pointwise<pointwise::SigmoidOp, nn::sigmoid>(
        info(LayerKind::Sigmoid, "sigmoid", "Sigmoid", kSaturating, "y = 1 / (1 + e^-x)", {}, {}, 0, 1),
        InitPairing::Glorot, "Sigmoid"),
    pointwise<pointwise::TanhOp, nn::tanh>(info(LayerKind::Tanh, "tanh", "Tanh", kSaturating, "y = tanh x", {}, {}, -1, 1),
                                            InitPairing::Glorot, "Tanh"),
    pointwise<pointwise::ReluOp, nn::relu>(info(LayerKind::ReLU, "relu", "ReLU", kReluFamily, "y = max(0, x)"),
                                            InitPairing::He, "Relu"),
    pointwise<pointwise::LeakyReluOp>(
        info(LayerKind::LeakyReLU, "leaky_relu", "LeakyReLU", kReluFamily, "y = x for x > 0, else negative_slope x",
             kLeakyReluArgs),
        InitPairing::He, [](const Layer& l, json& j) { j["negative_slope"] = l.spec().leaky_relu().negative_slope; },
        [](const ArchLayer& a) { return nn::leaky_relu(as_float(a.number("negative_slope"))); },
        [] { return nn::leaky_relu(); },
        [](const BuilderArgs& a) { return nn::leaky_relu(as_float(a.real("negative_slope"))); },
        {"LeakyRelu", "alpha", [](const LayerSpec& s) { return s.leaky_relu().negative_slope; }, 0.01f,
         [](float alpha) { return nn::leaky_relu(alpha); }}),
    {info(LayerKind::RReLU, "rrelu", "RReLU", kActivation | kReluFamily,
          "leaky ReLU with a random slope in [lower, upper] in training", kRReluArgs),
     InitPairing::He,
     "in_features",
     make<RReLU>,
     [](const Layer& l, json& j) {
       j["lower"] = l.spec().rrelu().lower;
       j["upper"] = l.spec().rrelu().upper;
     },
     [](const ArchLayer& a) { return nn::rrelu(as_float(a.number("lower")), as_float(a.number("upper"))); },
     [] { return nn::rrelu(); },
     stateless,
     nullptr, nullptr, 0,
     [](const BuilderArgs& a) { return nn::rrelu(as_float(a.real("lower")), as_float(a.real("upper"))); },
     // Its evaluation, computed as the layer computes it; a LeakyRelu imports as leaky_relu.
     {"LeakyRelu", "alpha", [](const LayerSpec& s) { return 0.5f * (s.rrelu().lower + s.rrelu().upper); }}},
    {info(LayerKind::PReLU, "prelu", "PReLU", kActivation | kReluFamily, "leaky ReLU with learned slopes", kPReluArgs),
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
     [](const LayerSpec& s, std::uint64_t width) -> std::uint64_t { return s.prelu().per_unit ? width : 1; },
     nullptr, nullptr, 0,
     [](const BuilderArgs& a) { return nn::prelu(a.flag("per_unit"), as_float(a.real("init"))); }},
    pointwise<pointwise::EluOp>(
        info(LayerKind::ELU, "elu", "ELU", kReluFamily, "y = x for x > 0, else alpha (e^x - 1)", kEluArgs),
        InitPairing::He, [](const Layer& l, json& j) { j["alpha"] = l.spec().elu().alpha; },
        [](const ArchLayer& a) { return nn::elu(as_float(a.number("alpha"))); }, [] { return nn::elu(); },
        [](const BuilderArgs& a) { return nn::elu(as_float(a.real("alpha"))); },
        {"Elu", "alpha", [](const LayerSpec& s) { return s.elu().alpha; }, 1.0f,
         [](float alpha) { return nn::elu(alpha); }}),
    pointwise<pointwise::SeluOp, nn::selu>(
        info(LayerKind::SELU, "selu", "SELU", 0, "self-normalizing ELU with PyTorch's scale and alpha"),
        InitPairing::LeCun, ""),
    {info(LayerKind::Softmax, "softmax", "Softmax", kActivation, "y_j = e^x_j / sum_k e^x_k over a sample's outputs"),
     InitPairing::Glorot,
     "in_features",
     make<Softmax>,
     [](const Layer&, json& j) { j["dim"] = 1; },
     [](const ArchLayer& a) {
       if (a.args.value("dim", 1) != 1) a.fail("only dim=1 (over a sample's outputs) is supported");
       return nn::softmax();
     },
     nn::softmax,
     stateless,
     nullptr, nullptr, 0,
     [](const BuilderArgs&) { return nn::softmax(); }},
    {info(LayerKind::BatchNorm, "batchnorm", "BatchNorm1d", 0,
          "normalizes each feature over the batch (running statistics in evaluation), then y = gamma x + beta",
          kBatchNormArgs, "batch_norm"),
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
     [](const LayerSpec&, std::uint64_t width) -> std::uint64_t { return 4 * width + 2; },
     nullptr, nullptr, 0,
     [](const BuilderArgs& a) { return nn::batch_norm(as_float(a.real("eps")), as_float(a.real("momentum"))); }},
    {info(LayerKind::Dropout, "dropout", "Dropout", 0, "zeroes each element with probability p in training, scales "
          "the rest by 1 / (1 - p)", kDropoutArgs),
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
     stateless,
     nullptr, nullptr, 0,
     [](const BuilderArgs& a) { return nn::dropout(as_float(a.real("p"))); }},
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

std::span<const KindRegistration> registrations() { return kKinds; }

BuilderArgs::BuilderArgs(const LayerKindInfo& kind, const LayerArgs& given) : kind_(kind), given_(given) {
  for (const auto& [name, v] : given)
    if (std::none_of(kind.args.begin(), kind.args.end(), [&](const LayerArg& a) { return a.name == name; }))
      throw std::invalid_argument(fmt::format("nn.{}: no argument '{}'{}", kind.builder, name,
                                              kind.args.empty() ? " (it takes none)" : ""));
}

LayerArgValue BuilderArgs::value(std::string_view name, std::string_view type) const {
  const auto a = std::find_if(kind_.args.begin(), kind_.args.end(), [&](const LayerArg& x) { return x.name == name; });
  if (a == kind_.args.end() || a->type != type) throw std::logic_error(fmt::format("nn.{}: {}", kind_.builder, name));
  if (const auto g = given_.find(name); g != given_.end()) return g->second;
  if (a->default_value.empty())
    throw std::invalid_argument(fmt::format("nn.{}: argument '{}' is required ({})", kind_.builder, name, a->help));
  const std::string d(a->default_value);
  if (type == "bool") return d == "True";
  if (type == "str") return d;
  return std::stod(d);
}

double BuilderArgs::real(std::string_view name) const {
  const LayerArgValue v = value(name, "float");
  if (!std::holds_alternative<double>(v))
    throw std::invalid_argument(fmt::format("nn.{}: {} must be a number", kind_.builder, name));
  return std::get<double>(v);
}

std::size_t BuilderArgs::whole(std::string_view name) const {
  const LayerArgValue v = value(name, "int");
  const double* d = std::get_if<double>(&v);
  if (!d || !(*d >= 0 && *d <= 9.007199254740992e15) || *d != static_cast<double>(static_cast<std::size_t>(*d)))
    throw std::invalid_argument(fmt::format("nn.{}: {} must be a whole number >= 0", kind_.builder, name));
  return static_cast<std::size_t>(*d);
}

bool BuilderArgs::flag(std::string_view name) const {
  const LayerArgValue v = value(name, "bool");
  if (!std::holds_alternative<bool>(v))
    throw std::invalid_argument(fmt::format("nn.{}: {} must be True or False", kind_.builder, name));
  return std::get<bool>(v);
}

std::string BuilderArgs::text(std::string_view name) const {
  const LayerArgValue v = value(name, "str");
  if (!std::holds_alternative<std::string>(v))
    throw std::invalid_argument(fmt::format("nn.{}: {} must be a string", kind_.builder, name));
  return std::get<std::string>(v);
}

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

LayerSpec build_layer(std::string_view builder, const LayerArgs& args) {
  for (const detail::KindRegistration& k : detail::registrations())
    if (k.info.builder == builder) return k.build(detail::BuilderArgs(k.info, args));
  std::string names;
  for (const detail::KindRegistration& k : detail::registrations()) names += (names.empty() ? "" : ", ") + std::string(k.info.builder);
  throw std::invalid_argument(fmt::format("no layer builder '{}' (the builders: {})", builder, names));
}
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
