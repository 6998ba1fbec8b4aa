// ONNX import (gradflow/onnx.h): the MLP subset of ONNX — a chain of layers from one input to
// one output — becomes a gradflow model. Everything is checked against the bytes actually
// present before it is trusted: no allocation follows a dimension the file merely claims.
#include "gradflow/onnx.h"

#include <onnx/onnx_pb.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/activations.h"
#include "gradflow/detail/json_depth.h"
#include "gradflow/loss.h"
#include "nn/layer_registry.h"

namespace gradflow {

namespace {

// A constant's values with its dims (initializer or Constant node).
struct Constant {
  std::vector<std::int64_t> dims;
  std::vector<float> values;
};

// One layer read from the graph: its spec and its tensors by PyTorch's names.
struct Piece {
  LayerSpec spec;
  std::map<std::string, std::vector<float>> tensors;
  bool from_matmul = false;  // a MatMul's Dense, waiting for the Add that brings its bias
};

// The largest ONNX file read: protobuf's own limit for one message.
constexpr std::uint64_t kMaxBytes = std::numeric_limits<int>::max();

class OnnxReader {
 public:
  OnnxReader(const std::string& bytes, std::string source, OnnxImportOptions options)
      : source_(std::move(source)), options_(std::move(options)) {
    if (!options_.task.empty() && options_.task != "classification" && options_.task != "regression")
      throw std::invalid_argument(
          fmt::format("ONNX import: task '{}' (expected classification or regression)", options_.task));
    if (bytes.size() > kMaxBytes) throw fail(fmt::format("{} bytes (at most {})", bytes.size(), kMaxBytes));
    if (!m_.ParseFromString(bytes))
      throw fail("not an ONNX model (the protobuf does not parse: a truncated or different file?)");
  }

  ModelFile read() {
    read_opset();
    const onnx::GraphProto& g = m_.graph();
    for (const onnx::TensorProto& t : g.initializer()) keep_constant(t.name(), t, "initializer");
    read_input(g);
    if (g.output_size() != 1)
      throw fail(fmt::format("the graph has {} outputs (an MLP has one)", g.output_size()));
    if (g.node_size() > static_cast<int>(4 * kMaxLayers))
      throw fail(fmt::format("{} nodes (at most {})", g.node_size(), 4 * kMaxLayers));
    for (int i = 0; i < g.node_size(); ++i) read_node(g.node(i), i);
    if (current_ != g.output(0).name())
      throw fail(fmt::format("the graph's output '{}' is not the end of the chain of layers (which ends at '{}')",
                             g.output(0).name(), current_));
    if (pieces_.empty()) throw fail("the graph has no layer");
    return build();
  }

 private:
  std::runtime_error fail(const std::string& what) const {
    return std::runtime_error(fmt::format("{}: {}", source_, what));
  }
  std::runtime_error fail(const onnx::NodeProto& n, const std::string& what) const {
    return fail(fmt::format("node {} '{}' ({}): {}", node_index_, n.name(), n.op_type(), what));
  }

  void read_opset() {
    for (const auto& o : m_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ <= 0) throw fail("no opset for the default ONNX domain");
  }

  // A float constant for the layers to read; another type is kept aside (a Dropout's
  // training_mode flag), an error only where a layer reads it as its weights.
  void keep_constant(const std::string& name, const onnx::TensorProto& t, const char* what) {
    if (t.data_type() == onnx::TensorProto::FLOAT) constants_[name] = tensor(t, what);
    else others_[name] = t;
  }

  // "float", "bool", …: ONNX's name of a data type, for messages.
  static std::string type_name(int type) {
    std::string name = onnx::TensorProto_DataType_IsValid(type)
                           ? onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(type))
                           : fmt::format("number {}", type);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }

  // Dims checked against the data present: a claimed [1e12, 1e12] never allocates.
  Constant tensor(const onnx::TensorProto& t, const char* what) const {
    const std::string name = fmt::format("{} '{}'", what, t.name());
    if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0)
      throw fail(fmt::format("{} keeps its data in an external file (not supported: export with the weights inside "
                             "the model)",
                             name));
    if (t.data_type() != onnx::TensorProto::FLOAT)
      throw fail(fmt::format("{} has data type {} (expected float)", name, type_name(t.data_type())));
    Constant c;
    std::uint64_t count = 1;
    for (std::int64_t d : t.dims()) {
      if (d < 0 || (d > 0 && count > kMaxBytes / static_cast<std::uint64_t>(d)))
        throw fail(fmt::format("{} has dimension {} (the file cannot hold that many values)", name, d));
      count *= static_cast<std::uint64_t>(d);
      c.dims.push_back(d);
    }
    const std::uint64_t present =
        t.has_raw_data() ? t.raw_data().size() / sizeof(float) : static_cast<std::uint64_t>(t.float_data_size());
    if ((t.has_raw_data() && t.raw_data().size() % sizeof(float) != 0) || present != count)
      throw fail(fmt::format("{}: its dims hold {} values, its data {} bytes", name, count,
                             t.has_raw_data() ? t.raw_data().size() : present * sizeof(float)));
    c.values.resize(count);
    if (t.has_raw_data())
      std::memcpy(c.values.data(), t.raw_data().data(), count * sizeof(float));
    else
      std::copy(t.float_data().begin(), t.float_data().end(), c.values.begin());
    return c;
  }

  void read_input(const onnx::GraphProto& g) {
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& in : g.input())
      if (!constants_.count(in.name())) inputs.push_back(&in);
    if (inputs.size() != 1) throw fail(fmt::format("the graph has {} inputs (an MLP has one)", inputs.size()));
    const onnx::ValueInfoProto& in = *inputs[0];
    const auto& type = in.type().tensor_type();
    if (!in.type().has_tensor_type() || type.elem_type() != onnx::TensorProto::FLOAT)
      throw fail(fmt::format("input '{}' is not a float32 tensor", in.name()));
    if (type.shape().dim_size() != 2)
      throw fail(fmt::format("input '{}' has {} dimensions (expected 2: [batch, features])", in.name(),
                             type.shape().dim_size()));
    const auto& f = type.shape().dim(1);
    if (!f.has_dim_value() || f.dim_value() < 1 || f.dim_value() > 100'000'000)
      throw fail(fmt::format("input '{}': the number of features (dimension 1) is not a fixed number from 1 to 1e8",
                             in.name()));
    features_ = width_ = static_cast<std::size_t>(f.dim_value());
    current_ = in.name();
  }

  // ---- nodes ----

  void read_node(const onnx::NodeProto& n, int index) {
    node_index_ = index;
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      throw fail(n, fmt::format("operator domain '{}' (only the default ONNX domain is supported)", n.domain()));
    if (n.output_size() < 1) throw fail(n, "no output");
    if (n.op_type() == "Constant") return read_constant(n);
    if (n.op_type() == "Identity" && n.input_size() == 1 && constants_.count(n.input(0))) {
      constants_[n.output(0)] = constants_.at(n.input(0));  // PyTorch's alias of a shared initializer
      return;
    }
    if (n.input_size() < 1 || n.input(0) != current_)
      throw fail(n, fmt::format("reads '{}', not '{}' (the output of the layer before it): only a chain of layers "
                                "from one input to one output is supported",
                                n.input_size() ? n.input(0) : "", current_));
    for (int o = 1; o < n.output_size(); ++o)
      if (!n.output(o).empty() && !(n.op_type() == "Dropout" && o == 1))
        throw fail(n, fmt::format("has {} outputs (a layer has one)", n.output_size()));
    const auto op = ops().find(n.op_type());
    if (op == ops().end()) {
      std::string known;
      for (const auto& [name, read] : ops()) known += (known.empty() ? "" : ", ") + name;
      throw fail(n, fmt::format("not a layer gradflow has (the ops it reads: {}; IsNaN + Where and Sub + Div only in "
                                "front, Add only after MatMul)",
                                known));
    }
    op->second(*this, n);
    current_ = n.output(0);
  }

  void read_constant(const onnx::NodeProto& n) {
    for (const auto& a : n.attribute()) {
      if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) {
        keep_constant(n.output(0), a.t(), "Constant");
        return;
      }
      if (a.name() == "value_float" && a.type() == onnx::AttributeProto::FLOAT) {
        constants_[n.output(0)] = Constant{{}, {a.f()}};
        return;
      }
    }
    throw fail(n, "only Constant nodes holding a float tensor are supported");
  }

  const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const char* name,
                                        onnx::AttributeProto::AttributeType type) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) {
        if (a.type() != type) throw fail(n, fmt::format("attribute {} has the wrong type", name));
        return &a;
      }
    return nullptr;
  }
  float attr(const onnx::NodeProto& n, const char* name, float fallback) const {
    const auto* a = attribute(n, name, onnx::AttributeProto::FLOAT);
    return a ? a->f() : fallback;
  }
  std::int64_t attr(const onnx::NodeProto& n, const char* name, std::int64_t fallback) const {
    const auto* a = attribute(n, name, onnx::AttributeProto::INT);
    return a ? a->i() : fallback;
  }

  // Input i of n: a constant of `count` values (0: any count).
  const Constant& constant(const onnx::NodeProto& n, int i, std::size_t count, const char* what) const {
    if (n.input_size() <= i || n.input(i).empty()) throw fail(n, fmt::format("no {} (input {})", what, i));
    const auto c = constants_.find(n.input(i));
    if (const auto other = others_.find(n.input(i)); c == constants_.end() && other != others_.end())
      throw fail(n, fmt::format("its {} '{}' has data type {} (expected float)", what, n.input(i),
                                type_name(other->second.data_type())));
    if (c == constants_.end())
      throw fail(n, fmt::format("its {} '{}' is not a constant (an initializer or a Constant node)", what, n.input(i)));
    if (count && c->second.values.size() != count)
      throw fail(n, fmt::format("its {} '{}' has {} values (expected {})", what, n.input(i), c->second.values.size(),
                                count));
    return c->second;
  }

  void layer(LayerSpec spec, std::map<std::string, std::vector<float>> tensors = {}) {
    if (pieces_.size() >= kMaxLayers) throw fail(fmt::format("more than {} layers", kMaxLayers));
    pieces_.push_back({std::move(spec), std::move(tensors)});
    width_ = output_width(pieces_.back().spec, width_);
  }

  // A weight matrix as Dense keeps it, [out, in], from [in, out] when `transposed` is false.
  std::vector<float> weight(const onnx::NodeProto& n, const Constant& w, bool out_first) const {
    if (w.dims.size() != 2) throw fail(n, fmt::format("weight has {} dimensions (expected 2)", w.dims.size()));
    const auto in = static_cast<std::size_t>(w.dims[out_first ? 1 : 0]);
    const auto out = static_cast<std::size_t>(w.dims[out_first ? 0 : 1]);
    if (in != width_) throw fail(n, fmt::format("weight takes {} inputs, the layer before gives {}", in, width_));
    if (out_first) return w.values;
    std::vector<float> t(w.values.size());
    for (std::size_t i = 0; i < in; ++i)
      for (std::size_t o = 0; o < out; ++o) t[o * in + i] = w.values[i * out + o];
    return t;
  }

  void read_gemm(const onnx::NodeProto& n) {
    if (attr(n, "alpha", 1.0f) != 1.0f || attr(n, "beta", 1.0f) != 1.0f || attr(n, "transA", std::int64_t{0}) != 0)
      throw fail(n, "only alpha = 1, beta = 1, transA = 0 is a Dense layer");
    const Constant& w = constant(n, 1, 0, "weight");
    std::vector<float> weights = weight(n, w, attr(n, "transB", std::int64_t{0}) != 0);
    const std::size_t out = weights.size() / width_;
    std::map<std::string, std::vector<float>> t{{"weight", std::move(weights)}};
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const Constant& c = constant(n, 2, 0, "bias");
      if (c.values.size() != out && c.values.size() != 1)
        throw fail(n, fmt::format("bias has {} values (expected {})", c.values.size(), out));
      t["bias"] = c.values.size() == out ? c.values : std::vector<float>(out, c.values[0]);
    }
    const bool bias = t.count("bias") > 0;
    layer(nn::dense(out, Init::Default, bias), std::move(t));
  }

  void read_matmul(const onnx::NodeProto& n) {
    std::vector<float> weights = weight(n, constant(n, 1, 0, "weight"), false);
    const std::size_t out = weights.size() / width_;
    layer(nn::dense(out, Init::Default, false), {{"weight", std::move(weights)}});
    pieces_.back().from_matmul = true;
  }

  void read_add(const onnx::NodeProto& n) {
    if (pieces_.empty() || !pieces_.back().from_matmul)
      throw fail(n, "Add is supported only as the bias of the MatMul before it");
    Piece& p = pieces_.back();
    p.from_matmul = false;
    p.spec.dense().bias = true;
    p.tensors["bias"] = constant(n, 1, width_, "bias").values;
  }

  void read_batch_norm(const onnx::NodeProto& n) {
    if (attr(n, "training_mode", std::int64_t{0}) != 0) throw fail(n, "training_mode = 1 (expected an evaluation graph)");
    const float momentum = attr(n, "momentum", 0.9f);
    if (!(momentum >= 0.0f && momentum <= 1.0f)) throw fail(n, fmt::format("momentum {} (expected 0 to 1)", momentum));
    std::map<std::string, std::vector<float>> t;
    const char* names[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; ++i) t[names[i]] = constant(n, i + 1, width_, names[i]).values;
    layer(nn::batch_norm(attr(n, "epsilon", 1e-5f), 1.0f - momentum), std::move(t));
  }

  void read_prelu(const onnx::NodeProto& n) {
    const Constant& slope = constant(n, 1, 0, "slope");
    if (slope.values.size() != 1 && slope.values.size() != width_)
      throw fail(n, fmt::format("slope has {} values (expected 1 or {}, one per unit)", slope.values.size(), width_));
    layer(nn::prelu(slope.values.size() != 1), {{"weight", slope.values}});
  }

  // A registered one-node kind (detail::OnnxOp), its attribute at ONNX's default when absent.
  void read_registered(const onnx::NodeProto& n) {
    for (const detail::KindRegistration& k : detail::registrations())
      if (k.onnx.read && k.onnx.op == n.op_type()) {
        layer(k.onnx.read(k.onnx.attr.empty() ? 0.0f : attr(n, std::string(k.onnx.attr).c_str(), k.onnx.attr_default)));
        return;
      }
    throw std::logic_error(fmt::format("ONNX import: no registered kind for {}", n.op_type()));
  }

  void read_selu(const onnx::NodeProto& n) {
    const float alpha = attr(n, "alpha", static_cast<float>(kSeluAlpha));
    const float gamma = attr(n, "gamma", static_cast<float>(kSeluScale));
    if (std::abs(alpha - kSeluAlpha) > 1e-6 || std::abs(gamma - kSeluScale) > 1e-6)
      throw fail(n, fmt::format("alpha {} and gamma {}: gradflow's SELU has PyTorch's constants ({:.7f}, {:.7f})",
                                alpha, gamma, kSeluAlpha, kSeluScale));
    layer(nn::selu());
  }

  void read_softmax(const onnx::NodeProto& n) {
    const std::int64_t axis = attr(n, "axis", std::int64_t{opset_ >= 13 ? -1 : 1});
    if (axis != 1 && axis != -1) throw fail(n, fmt::format("axis {} (a layer's softmax is over axis 1)", axis));
    layer(nn::softmax());
  }

  void read_dropout(const onnx::NodeProto& n) {
    // opset 12+: a third input, training_mode — a graph exported in training mode is not the model's
    // evaluation (torch.onnx.export after model.eval() writes none, or false).
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const auto flag = others_.find(n.input(2));
      const bool off = flag != others_.end() && flag->second.data_type() == onnx::TensorProto::BOOL &&
                       flag->second.int32_data_size() + flag->second.raw_data().size() == 1 &&
                       (flag->second.int32_data_size() ? flag->second.int32_data(0) : flag->second.raw_data()[0]) == 0;
      if (!off)
        throw fail(n, "training_mode is not a constant false: a Dropout in training mode (export the model after "
                      "model.eval())");
    }
    float p = attr(n, "ratio", 0.5f);
    if (n.input_size() > 1 && !n.input(1).empty()) p = constant(n, 1, 1, "ratio").values[0];
    if (!(p >= 0.0f && p < 1.0f)) throw fail(n, fmt::format("ratio {} (expected 0 ≤ p < 1)", p));
    layer(nn::dropout(p));
  }

  // ---- the preprocessing in front: IsNaN + Where (imputation), Sub + Div (standardization) ----

  void in_front(const onnx::NodeProto& n, const char* what) const {
    if (!pieces_.empty()) throw fail(n, fmt::format("{} is supported only in front of the first layer", what));
  }

  void read_isnan(const onnx::NodeProto& n) {
    in_front(n, "IsNaN (imputation)");
    if (!info_.impute.empty() || !info_.input.empty())
      throw fail(n, "a second imputation, or one after the standardization (it comes first)");
    raw_ = current_;
  }

  void read_where(const onnx::NodeProto& n) {
    in_front(n, "Where (imputation)");
    if (!raw_ || n.input_size() != 3 || n.input(2) != *raw_)
      throw fail(n, "expected Where(IsNaN(x), fill, x): the imputation of missing features");
    info_.impute.fill = constant(n, 1, features_, "fill values").values;
    raw_.reset();
  }

  void read_sub(const onnx::NodeProto& n) {
    in_front(n, "Sub (standardization)");
    if (!info_.input.empty() || raw_) throw fail(n, "expected one Sub and one Div: the standardization");
    info_.input.mean = constant(n, 1, features_, "means").values;
  }

  void read_div(const onnx::NodeProto& n) {
    in_front(n, "Div (standardization)");
    if (info_.input.mean.empty() || !info_.input.std.empty()) throw fail(n, "expected Div(Sub(x, mean), std)");
    info_.input.std = constant(n, 1, features_, "deviations").values;
    for (float s : info_.input.std)
      if (!(s > 0) || !std::isfinite(s)) throw fail(n, fmt::format("deviation {} (expected finite and > 0)", s));
  }

  using Read = void (*)(OnnxReader&, const onnx::NodeProto&);
  static const std::map<std::string, Read>& ops();

  ModelFile build();
  void read_metadata();
  void read_range(const std::string& text);
  void read_task(const std::string& file_loss);
  void fill_layer(Layer& l, std::size_t k, Piece& p) const;

  std::string source_;
  OnnxImportOptions options_;
  std::string note_;  // what read_task chose
  onnx::ModelProto m_;
  std::int64_t opset_ = 0;
  std::map<std::string, Constant> constants_;
  std::map<std::string, onnx::TensorProto> others_;  // constants of other types than float
  std::string current_;
  std::size_t features_ = 0, width_ = 0;
  int node_index_ = -1;
  std::vector<Piece> pieces_;
  ModelInfo info_;
  std::optional<std::string> raw_;  // the tensor an IsNaN read, until its Where
};

// Every op the reader knows: what it makes of the node — the registered one-node kinds
// (detail::OnnxOp), then the ops with tensors or checks of their own.
const std::map<std::string, OnnxReader::Read>& OnnxReader::ops() {
  static const std::map<std::string, Read> table = [] {
    std::map<std::string, Read> t{
        {"Gemm", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_gemm(n); }},
        {"MatMul", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_matmul(n); }},
        {"Add", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_add(n); }},
        {"BatchNormalization", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_batch_norm(n); }},
        {"Selu", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_selu(n); }},
        {"PRelu", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_prelu(n); }},
        {"Softmax", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_softmax(n); }},
        {"Dropout", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_dropout(n); }},
        {"Identity", [](OnnxReader&, const onnx::NodeProto&) {}},  // PyTorch writes them
        {"IsNaN", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_isnan(n); }},
        {"Where", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_where(n); }},
        {"Sub", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_sub(n); }},
        {"Div", [](OnnxReader& r, const onnx::NodeProto& n) { r.read_div(n); }},
    };
    for (const detail::KindRegistration& k : detail::registrations())
      if (k.onnx.read) t.emplace(std::string(k.onnx.op), [](OnnxReader& r, const onnx::NodeProto& n) { r.read_registered(n); });
    return t;
  }();
  return table;
}

// The metadata our export writes (gradflow/onnx.h); other producers' entries are ignored.
void OnnxReader::read_metadata() {
  std::map<std::string, std::string> meta;
  for (const auto& p : m_.metadata_props()) meta[p.key()] = p.value();
  const auto names = [&](const char* key) {
    std::vector<std::string> v;
    if (!meta.count(key)) return v;
    try {
      v = detail::parse_json<nlohmann::json>(meta[key], key).get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      throw fail(fmt::format("metadata {}: not a JSON list of names ({})", key, e.what()));
    }
    return v;
  };
  info_.feature_names = names("gradflow.features");
  if (!info_.feature_names.empty() && info_.feature_names.size() != features_)
    throw fail(fmt::format("metadata gradflow.features names {} features, the input has {}",
                           info_.feature_names.size(), features_));
  info_.class_names = names("gradflow.classes");
  if (meta.count("gradflow.label")) info_.label_name = meta["gradflow.label"];
  if (!info_.impute.empty()) info_.impute.strategy = meta.count("gradflow.impute") ? meta["gradflow.impute"] : "constant";
  if (meta.count("gradflow.range")) read_range(meta["gradflow.range"]);
  read_task(meta.count("gradflow.loss") ? meta["gradflow.loss"] : "");
}

// The training inputs' range, as our export writes it: {"min": [...], "max": [...], "form": "..."}.
void OnnxReader::read_range(const std::string& text) {
  try {
    const auto j = detail::parse_json<nlohmann::json>(text, "gradflow.range");
    InputRange r{j.at("min").get<std::vector<float>>(), j.at("max").get<std::vector<float>>(),
                 j.value("form", std::string())};
    if (r.min.size() != features_ || r.max.size() != features_) throw std::runtime_error("one min and max per feature");
    for (std::size_t f = 0; f < features_; ++f)
      if (!std::isfinite(r.min[f]) || !std::isfinite(r.max[f]) || r.min[f] > r.max[f])
        throw std::runtime_error(fmt::format("feature {}: [{}, {}] (expected finite, min <= max)", f, r.min[f], r.max[f]));
    info_.range = std::move(r);
  } catch (const std::exception& e) {
    throw fail(fmt::format("metadata gradflow.range: {}", e.what()));
  }
}

// The loss (so the task) from the file's metadata or its output layer, unless the options say
// otherwise; logits taken as a classifier's get their softmax (or sigmoid).
void OnnxReader::read_task(const std::string& file_loss) {
  const LayerKind last = pieces_.back().spec.kind;
  const bool probabilities = last == LayerKind::Softmax || last == LayerKind::Sigmoid;
  if (options_.task == "regression") {
    if (probabilities)
      throw fail(fmt::format("the output layer is a {}, not a regression's: import it without --task regression",
                             to_string(last)));
    info_.loss = "mse";
    note_ = "regression: the outputs are values (mse), as asked";
  } else if (options_.task == "classification" && !probabilities) {
    const bool binary = width_ == 1;
    pieces_.push_back(Piece{binary ? nn::sigmoid() : nn::softmax(), {}});
    info_.loss = binary ? "binary_cross_entropy" : "cross_entropy";
    note_ = fmt::format("classification: the {} outputs are taken as logits, and a {} is appended to turn them into "
                        "probabilities",
                        width_, binary ? "Sigmoid" : "Softmax");
  } else {
    info_.loss = !file_loss.empty()              ? file_loss
                 : last == LayerKind::Softmax ? "cross_entropy"
                 : last == LayerKind::Sigmoid ? "binary_cross_entropy"
                                              : "mse";
    if (options_.task.empty() && file_loss.empty())
      note_ = info_.loss == "mse" ? "regression (the output layer is not a softmax or sigmoid; --task classification "
                                    "takes the outputs as a classifier's logits)"
                                  : fmt::format("classification (the output layer is a {})", to_string(last));
  }
  try {
    parse_loss(info_.loss);
  } catch (const std::exception& e) {
    throw fail(fmt::format("metadata gradflow.loss: {}", e.what()));
  }
  if (!options_.class_names.empty()) {
    const std::size_t classes = width_ == 1 ? 2 : width_;
    if (info_.loss == "mse" || options_.class_names.size() != classes)
      throw fail(fmt::format("{} class names for a model with {} {}", options_.class_names.size(),
                             info_.loss == "mse" ? width_ : classes,
                             info_.loss == "mse" ? "regression outputs" : "classes"));
    info_.class_names = options_.class_names;
  }
}

// Layer k's tensors into the built layer, by PyTorch's names, under the model files' rule for values.
void OnnxReader::fill_layer(Layer& l, std::size_t k, Piece& p) const {
  const auto copy = [&](const std::string& name, Tensor& to) {
    const auto t = p.tensors.find(name);
    if (t == p.tensors.end() || t->second.size() != to.size())
      throw std::logic_error(fmt::format("ONNX import: layer {} ({}) lacks tensor {}", k, l.name(), name));
    const std::string bad = bad_state_value(name, t->second);
    if (!bad.empty()) throw fail(fmt::format("layer {} ({}): {} {}", k, l.name(), name, bad));
    std::copy(t->second.begin(), t->second.end(), to.data());
  };
  const auto shapes = l.param_shapes();
  for (std::size_t i = 0; i < shapes.size(); ++i) copy(shapes[i].name, l.params()[i]);
  for (auto& [name, t] : l.buffers()) copy(name, *t);
}

ModelFile OnnxReader::build() {
  if (raw_) throw fail("IsNaN without the Where that fills the missing values");
  if (!info_.input.mean.empty() && info_.input.std.empty()) throw fail("Sub without the Div of the standardization");
  read_metadata();
  std::vector<LayerSpec> specs;
  for (const Piece& p : pieces_) specs.push_back(p.spec);
  ModelFile mf;
  mf.model = std::make_unique<Sequential>(features_, specs);
  for (std::size_t k = 0; k < pieces_.size(); ++k) fill_layer(mf.model->layer(k), k, pieces_[k]);
  mf.info = std::move(info_);
  mf.note = std::move(note_);
  return mf;
}

}  // namespace

ModelFile from_onnx(const std::string& bytes, const std::string& source, const OnnxImportOptions& options) {
  return OnnxReader(bytes, source, options).read();
}

ModelFile load_onnx(const std::string& path, const OnnxImportOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw std::runtime_error(fmt::format("cannot open '{}': no such file", path));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxBytes)
    throw std::runtime_error(fmt::format("{}: {} bytes (an ONNX file holds at most {})", path, size, kMaxBytes));
  std::ifstream f(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!f.read(bytes.data(), static_cast<std::streamsize>(size))) throw std::runtime_error(fmt::format("cannot read '{}'", path));
  return from_onnx(bytes, path, options);
}

ModelFile load_any_model(const std::string& path) {
  return std::filesystem::path(path).extension() == ".onnx" ? load_onnx(path) : load_model(path);
}

}  // namespace gradflow
