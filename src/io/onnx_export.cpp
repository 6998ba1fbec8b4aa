// ONNX export (gradflow/onnx.h): the model's evaluation function as an ONNX graph, written with
// ONNX's own protobuf classes and checked by ONNX's checker and shape inference.
#include "gradflow/onnx.h"

#include "nn/layer_registry.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <span>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/activations.h"

namespace gradflow {

namespace {

// The graph under construction: `current` names the tensor the next layer reads.
class GraphWriter {
 public:
  explicit GraphWriter(onnx::GraphProto& g) : g_(g) {}

  std::string current = "input";

  // A float initializer; returns its name.
  std::string constant(const std::string& name, std::span<const float> values, std::vector<std::int64_t> dims) {
    onnx::TensorProto* t = g_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) t->add_dims(d);
    t->set_raw_data(values.data(), values.size_bytes());  // little-endian, as x86-64 stores them
    return name;
  }

  // A node reading `current` and `extra`; `current` becomes its output.
  onnx::NodeProto& node(const std::string& op, const std::string& name, std::vector<std::string> extra = {}) {
    onnx::NodeProto* n = g_.add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->add_input(current);
    for (const auto& e : extra) n->add_input(e);
    current = name + "_output";
    n->add_output(current);
    return *n;
  }

 private:
  onnx::GraphProto& g_;
};

void set_attr(onnx::NodeProto& n, const std::string& name, float v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void set_attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

std::vector<std::int64_t> shape_of(const ParamShape& s) {
  if (s.vector) return {static_cast<std::int64_t>(s.cols)};
  return {static_cast<std::int64_t>(s.rows), static_cast<std::int64_t>(s.cols)};
}

// Layer k's parameter p as an initializer named as in the model file ("k.weight").
std::string param(GraphWriter& w, const Layer& l, std::size_t k, std::size_t p) {
  const ParamShape s = l.param_shapes().at(p);
  const Tensor& t = l.params()[p];
  return w.constant(fmt::format("{}.{}", k, s.name), {t.data(), t.size()}, shape_of(s));
}

std::string prefix(std::size_t k, const char* op) { return fmt::format("{}.{}", k, op); }

void write_dense(GraphWriter& w, const Layer& l, std::size_t k) {
  std::vector<std::string> inputs{param(w, l, k, 0)};
  if (l.spec().dense().bias) inputs.push_back(param(w, l, k, 1));
  onnx::NodeProto& n = w.node("Gemm", prefix(k, "Gemm"), inputs);
  set_attr(n, "transB", std::int64_t{1});
}

void write_batch_norm(GraphWriter& w, const Layer& l, std::size_t k) {
  auto& bn = const_cast<Layer&>(l);  // buffers() hands out mutable views; nothing is written
  std::vector<std::string> inputs{param(w, l, k, 0), param(w, l, k, 1)};
  for (const auto& [name, t] : bn.buffers())
    inputs.push_back(w.constant(fmt::format("{}.{}", k, name), {t->data(), t->size()},
                                {static_cast<std::int64_t>(t->size())}));
  onnx::NodeProto& n = w.node("BatchNormalization", prefix(k, "BatchNormalization"), inputs);
  set_attr(n, "epsilon", l.spec().batch_norm().eps);
  set_attr(n, "momentum", 1.0f - l.spec().batch_norm().momentum);
}

// A kind that is one node, as its registration says (detail::OnnxOp).
void write_registered(GraphWriter& w, const Layer& l, std::size_t k) {
  const detail::OnnxOp& op = detail::registration(l.kind()).onnx;
  const std::string name(op.op);
  onnx::NodeProto& n = w.node(name, prefix(k, name.c_str()));
  if (!op.attr.empty()) set_attr(n, std::string(op.attr), op.value(l.spec()));
}

// The kinds that are not one registered node: what each becomes in the graph.
struct OnnxKind {
  LayerKind kind;
  void (*write)(GraphWriter&, const Layer&, std::size_t k);
};

constexpr OnnxKind kOnnxKinds[] = {
    {LayerKind::Dense, write_dense},
    {LayerKind::Identity, [](GraphWriter&, const Layer&, std::size_t) {}},
    {LayerKind::PReLU,
     [](GraphWriter& w, const Layer& l, std::size_t k) { w.node("PRelu", prefix(k, "PRelu"), {param(w, l, k, 0)}); }},
    {LayerKind::SELU,
     [](GraphWriter& w, const Layer&, std::size_t k) {
       onnx::NodeProto& n = w.node("Selu", prefix(k, "Selu"));
       set_attr(n, "alpha", static_cast<float>(kSeluAlpha));
       set_attr(n, "gamma", static_cast<float>(kSeluScale));
     }},
    {LayerKind::Softmax,
     [](GraphWriter& w, const Layer&, std::size_t k) {
       set_attr(w.node("Softmax", prefix(k, "Softmax")), "axis", std::int64_t{1});
     }},
    {LayerKind::BatchNorm, write_batch_norm},
    {LayerKind::Dropout, [](GraphWriter&, const Layer&, std::size_t) {}},
};

// A kind's writer: its registered node, else its entry above (test_onnx exports every kind).
void (*onnx_writer(LayerKind kind))(GraphWriter&, const Layer&, std::size_t) {
  if (!detail::registration(kind).onnx.op.empty()) return write_registered;
  for (const OnnxKind& e : kOnnxKinds)
    if (e.kind == kind) return e.write;
  throw std::logic_error(fmt::format("ONNX export: no entry for layer kind {}", to_string(kind)));
}

// Missing values, then standardization, as `gradflow predict` prepares its inputs.
void write_preprocessing(GraphWriter& w, const ModelInfo& info, std::int64_t features) {
  if (!info.impute.empty()) {
    const std::string fill = w.constant("impute.fill", info.impute.fill, {features});
    const std::string raw = w.current;
    w.node("IsNaN", "impute.IsNaN");
    w.node("Where", "impute.Where", {fill, raw});  // Where(missing, fill, raw)
  }
  if (!info.input.empty()) {
    std::vector<float> divisor(info.input.std);
    for (float& s : divisor) s = s < 1e-8f ? 1.0f : s;  // a constant feature is only centred
    w.node("Sub", "standardize.Sub", {w.constant("standardize.mean", info.input.mean, {features})});
    w.node("Div", "standardize.Div", {w.constant("standardize.std", divisor, {features})});
  }
}

void add_io(onnx::ValueInfoProto* v, const std::string& name, std::int64_t width) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("batch");
  t->mutable_shape()->add_dim()->set_dim_value(width);
}

void add_metadata(onnx::ModelProto& m, const ModelInfo& info) {
  const auto add = [&](const std::string& key, const std::string& value) {
    onnx::StringStringEntryProto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  };
  if (!info.feature_names.empty()) add("gradflow.features", nlohmann::json(info.feature_names).dump());
  if (!info.label_name.empty()) add("gradflow.label", info.label_name);
  if (!info.class_names.empty()) add("gradflow.classes", nlohmann::json(info.class_names).dump());
  if (!info.loss.empty()) add("gradflow.loss", info.loss);
  if (!info.impute.empty()) add("gradflow.impute", info.impute.strategy);
  if (!info.range.empty()) {
    nlohmann::json r{{"min", info.range.min}, {"max", info.range.max}};
    if (!info.range.form.empty()) r["form"] = info.range.form;
    add("gradflow.range", r.dump());
  }
}

// The IR version of the ONNX release that introduced the opset: older runtimes read the file.
std::int64_t ir_version_for(int opset) { return opset <= 11 ? 6 : opset <= 14 ? 7 : 8; }

// Our own graph must pass ONNX's checks, and the inferred output shape must be the declared
// one; a failure here is a bug, reported as one.
void check(const onnx::ModelProto& m) {
  try {
    onnx::checker::check_model(m);
    onnx::ModelProto inferred = m;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw std::logic_error(fmt::format("ONNX export: the graph fails ONNX's checks: {}", e.what()));
  }
}

}  // namespace

std::string to_onnx(const Sequential& model, const ModelInfo& info, const OnnxExportOptions& options) {
  if (options.opset < kOnnxMinOpset || options.opset > kOnnxMaxOpset)
    throw std::invalid_argument(fmt::format("ONNX export: opset {} (expected {} to {})", options.opset, kOnnxMinOpset,
                                            kOnnxMaxOpset));
  onnx::ModelProto m;
  m.set_ir_version(ir_version_for(options.opset));
  m.set_producer_name("gradflow");
  m.set_producer_version("0.1.0");
  m.add_opset_import()->set_version(options.opset);
  add_metadata(m, info);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("gradflow");
  const auto features = static_cast<std::int64_t>(model.in_features());
  add_io(g.add_input(), "input", features);
  GraphWriter w(g);
  write_preprocessing(w, info, features);
  for (std::size_t k = 0; k < model.size(); ++k) onnx_writer(model.layer(k).kind())(w, model.layer(k), k);
  if (w.current == "input") w.node("Identity", "identity");  // a model that computes nothing
  // The last node writes the graph's output by name.
  onnx::NodeProto& last = *g.mutable_node(g.node_size() - 1);
  last.set_output(0, "output");
  add_io(g.add_output(), "output", static_cast<std::int64_t>(model.out_features()));
  check(m);
  return m.SerializeAsString();
}

void save_onnx(const std::string& path, const Sequential& model, const ModelInfo& info,
               const OnnxExportOptions& options) {
  write_file_atomic(path, to_onnx(model, info, options));
}

}  // namespace gradflow
