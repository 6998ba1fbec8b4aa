// ONNX export and import (src/io/onnx_*.cpp): every layer kind and both preprocessing steps
// survive the round trip bit for bit at every opset; PyTorch's graph forms (MatMul + Add,
// Gemm without transB, Constant nodes, Identity aliases) import; hostile files give one-line
// errors. OpenCV running our graphs and PyTorch's files importing: tests/python/test_onnx.py.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradflow/gradflow.h"
#include "gradflow/onnx.h"

namespace gradflow {
namespace {

// Every registered kind, with BatchNorm statistics and PReLU slopes that are not their initial values.
std::unique_ptr<Sequential> every_kind() {
  auto net = std::make_unique<Sequential>(
      4, std::vector<LayerSpec>{nn::dense(8, Init::Default, false), nn::batch_norm(1e-3f, 0.2f), nn::relu(),
                                nn::dropout(0.3f), nn::dense(8), nn::leaky_relu(0.2f), nn::rrelu(0.1f, 0.3f),
                                nn::prelu(true, 0.1f), nn::prelu(false), nn::elu(0.5f), nn::selu(), nn::identity(),
                                nn::tanh(), nn::sigmoid(), nn::dense(6), nn::softmax(), nn::dense(3), nn::softmax()},
      7);
  Tensor x(32, 4);
  Rng rng(3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal() * 2 + 1;
  for (int step = 0; step < 3; ++step) net->forward(x, Mode::Train);  // running statistics move
  for (std::size_t i = 0; i < net->num_params(); ++i) net->parameters()[i] += 0.01f * static_cast<float>(i % 7);
  return net;
}

ModelInfo every_field() {
  ModelInfo info;
  info.impute = {"median", {0.5f, -1.0f, 2.0f, 3.0f}};
  info.input = {{0.1f, 0.2f, 0.3f, 0.4f}, {1.5f, 0.0f, 2.5f, 0.7f}};  // feature 1 constant: only centred
  info.feature_names = {"a", "b", "c", "d"};
  info.label_name = "y";
  info.class_names = {"cat", "dog", "owl"};
  info.loss = "cross_entropy";
  return info;
}

Tensor raw_inputs() {
  Tensor x(5, 4);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 3;
  x[1] = x[6] = x[15] = std::numeric_limits<float>::quiet_NaN();
  return x;
}

// What `gradflow predict` computes: fill, standardize, evaluate.
Tensor predict_raw(Sequential& net, const ModelInfo& info, Tensor x) {
  info.impute.apply(x);
  info.input.apply(x);
  return Tensor(net.forward(x, Mode::Eval));
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

TEST(Onnx, EveryLayerKindRoundTripsBitIdenticalAtEveryOpset) {
  auto net = every_kind();
  const ModelInfo info = every_field();
  const Tensor want = predict_raw(*net, info, raw_inputs());
  for (int opset = kOnnxMinOpset; opset <= kOnnxMaxOpset; ++opset) {
    SCOPED_TRACE(opset);
    const std::string bytes = to_onnx(*net, info, {.opset = opset});
    std::vector<std::string> ops;
    const onnx::ModelProto proto = parse(bytes);
    for (const auto& n : proto.graph().node()) ops.push_back(n.op_type());
    EXPECT_EQ(ops, (std::vector<std::string>{"IsNaN", "Where", "Sub", "Div", "Gemm", "BatchNormalization", "Relu", "Gemm",
                                             "LeakyRelu", "LeakyRelu", "PRelu", "PRelu", "Elu", "Selu", "Tanh",
                                             "Sigmoid", "Gemm", "Softmax", "Gemm", "Softmax"}));
    ModelFile back = from_onnx(bytes, "test.onnx");
    const Tensor got = predict_raw(*back.model, back.info, raw_inputs());
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
    EXPECT_EQ(back.info.feature_names, info.feature_names);
    EXPECT_EQ(back.info.class_names, info.class_names);
    EXPECT_EQ(back.info.label_name, "y");
    EXPECT_EQ(back.info.loss, "cross_entropy");
    EXPECT_EQ(back.info.impute.strategy, "median");
    EXPECT_EQ(back.info.impute.fill, info.impute.fill);
    EXPECT_EQ(back.info.input.std, (std::vector<float>{1.5f, 1.0f, 2.5f, 0.7f}));
  }
  // Dropout and Identity leave no node; the imported model evaluates the same without them.
  const ModelFile back = from_onnx(to_onnx(*net, info), "test.onnx");
  EXPECT_EQ(back.model->size(), net->size() - 2);
  EXPECT_EQ(back.model->layer(1).spec().batch_norm().eps, 1e-3f);
  // ONNX keeps 1 − momentum as a float: 0.2 comes back within an ulp of 0.8.
  EXPECT_NEAR(back.model->layer(1).spec().batch_norm().momentum, 0.2f, 1e-7);
  EXPECT_TRUE(back.model->layer(6).spec().prelu().per_unit);
  EXPECT_FALSE(back.model->layer(7).spec().prelu().per_unit);
  EXPECT_FALSE(back.model->layer(0).spec().dense().bias);
}

TEST(Onnx, OpsetOutsideTheRangeIsRefused) {
  auto net = every_kind();
  EXPECT_THROW(to_onnx(*net, {}, {.opset = kOnnxMinOpset - 1}), std::invalid_argument);
  EXPECT_THROW(to_onnx(*net, {}, {.opset = kOnnxMaxOpset + 1}), std::invalid_argument);
}

TEST(Onnx, WithoutMetadataTheLossComesFromTheOutputLayer) {
  for (const auto& [last, loss] : std::vector<std::pair<LayerSpec, std::string>>{
           {nn::softmax(), "cross_entropy"}, {nn::sigmoid(), "binary_cross_entropy"}, {nn::identity(), "mse"},
           {nn::tanh(), "mse"}}) {
    Sequential net(3, {nn::dense(2), last});
    EXPECT_EQ(from_onnx(to_onnx(net), "m.onnx").info.loss, loss);
  }
}

// ---- PyTorch's forms, written here with ONNX's classes ----

onnx::TensorProto initializer(const std::string& name, std::vector<std::int64_t> dims, std::vector<float> v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t.add_dims(d);
  for (float f : v) t.add_float_data(f);
  return t;
}

onnx::NodeProto& node(onnx::GraphProto& g, const std::string& op, std::vector<std::string> in, std::string out) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(out + "_node");
  for (auto& i : in) n->add_input(i);
  n->add_output(out);
  return *n;
}

void add_io(onnx::ValueInfoProto* v, const std::string& name, std::int64_t width) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  t->mutable_shape()->add_dim()->set_dim_value(width);
}

// x [N, 2] → MatMul(W [2, 3]) + b → Relu → Gemm(W2 [3, 2] not transposed, a Constant node) → y
onnx::ModelProto torch_like() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(14);
  onnx::GraphProto& g = *m.mutable_graph();
  add_io(g.add_input(), "x", 2);
  add_io(g.add_output(), "y", 2);
  *g.add_initializer() = initializer("W", {2, 3}, {1, 2, 3, 4, 5, 6});
  *g.add_initializer() = initializer("b", {3}, {0.5f, -9, 0});
  node(g, "MatMul", {"x", "W"}, "mm");
  node(g, "Add", {"mm", "b"}, "add");
  node(g, "Identity", {"add"}, "id");
  node(g, "Relu", {"id"}, "r");
  onnx::NodeProto& c = node(g, "Constant", {}, "W2");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = initializer("", {3, 2}, {1, -1, 0.5f, 2, -3, 1});
  node(g, "Identity", {"W2"}, "W2alias");
  node(g, "Gemm", {"r", "W2alias"}, "y");
  return m;
}

TEST(Onnx, PyTorchFormsImport) {
  const ModelFile mf = from_onnx(torch_like().SerializeAsString(), "torch.onnx");
  ASSERT_EQ(mf.model->size(), 3u);
  EXPECT_NE(mf.model->summary().find("Dense(2→3)"), std::string::npos);
  Tensor x(1, 2);
  x[0] = 1, x[1] = -1;
  const Tensor& y = mf.model->forward(x, Mode::Eval);
  // mm = [1 − 4, 2 − 5, 3 − 6] + b = [−2.5, −12, −3] → relu 0 → y = 0
  EXPECT_EQ(y[0], 0.0f);
  x[0] = 2, x[1] = 1;  // mm = [6, 9, 12] + b = [6.5, −3, 12] → relu [6.5, 0, 12]
  const Tensor& y2 = mf.model->forward(x, Mode::Eval);
  EXPECT_FLOAT_EQ(y2[0], 6.5f * 1 + 0 * 0.5f + 12 * -3);
  EXPECT_FLOAT_EQ(y2[1], 6.5f * -1 + 0 * 2 + 12 * 1);
  EXPECT_EQ(mf.info.loss, "mse");
}

// ---- hostile files: one line naming the file, the node and what was wrong ----

void expect_error(const onnx::ModelProto& m, const std::string& needle) {
  try {
    from_onnx(m.SerializeAsString(), "bad.onnx");
    ADD_FAILURE() << "no error; expected one containing: " << needle;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.rfind("bad.onnx: ", 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(Onnx, HostileGraphsGiveOneLineErrors) {
  const auto with = [](const std::function<void(onnx::ModelProto&)>& change) {
    onnx::ModelProto m = torch_like();
    change(m);
    return m;
  };
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_initializer(0)->set_dims(0, 1LL << 40); }),
               "initializer 'W' has dimension 1099511627776");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_initializer(0)->set_dims(1, 4); }),
               "initializer 'W': its dims hold 8 values, its data 24 bytes");
  expect_error(with([](auto& m) {
                 m.mutable_graph()->mutable_initializer(1)->set_data_location(onnx::TensorProto::EXTERNAL);
               }),
               "initializer 'b' keeps its data in an external file");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_initializer(1)->set_data_type(onnx::TensorProto::DOUBLE); }),
               "node 1 'add_node' (Add): its bias 'b' has data type double (expected float)");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_initializer()->RemoveLast(); }),
               "node 1 'add_node' (Add): its bias 'b' is not a constant");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_node(3)->set_input(0, "r"); }),  // a cycle
               "node 3 'r_node' (Relu): reads 'r', not 'id'");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_node(3)->set_op_type("Conv"); }),
               "node 3 'r_node' (Conv): not a layer gradflow has");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_node(3)->set_domain("com.microsoft"); }),
               "operator domain 'com.microsoft'");
  expect_error(with([](auto& m) { add_io(m.mutable_graph()->add_input(), "x2", 2); }), "the graph has 2 inputs");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_output(0)->set_name("mm"); }),
               "the graph's output 'mm' is not the end of the chain");
  expect_error(with([](auto& m) {
                 m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(
                     1)->set_dim_value(5);
               }),
               "node 0 'mm_node' (MatMul): weight takes 2 inputs, the layer before gives 5");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_initializer(1)->set_float_data(1, NAN); }),
               "layer 0 (Dense(2→3)): bias element 1 is nan (expected a finite number)");
  expect_error(with([](auto& m) { m.mutable_graph()->mutable_node(1)->set_op_type("Sub"); }),
               "Sub (standardization) is supported only in front of the first layer");
}

TEST(Onnx, TruncatedFilesNeverCrash) {
  const std::string bytes = to_onnx(*every_kind(), every_field());
  std::size_t refused = 0;
  for (std::size_t n = 0; n < bytes.size(); n += 3) {
    try {
      from_onnx(bytes.substr(0, n), "cut.onnx");  // a cut before the metadata can be a whole model
    } catch (const std::runtime_error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, bytes.size() / 3 * 9 / 10);
  EXPECT_THROW(from_onnx("not protobuf at all \xff\xff\xff", "x.onnx"), std::runtime_error);
}

TEST(Onnx, FilesByExtension) {
  const auto dir = std::filesystem::temp_directory_path() / "gradflow_test_onnx";
  std::filesystem::create_directories(dir);
  auto net = every_kind();
  save_onnx((dir / "m.onnx").string(), *net, every_field());
  save_model((dir / "m.safetensors").string(), *net, every_field());
  EXPECT_EQ(load_any_model((dir / "m.onnx").string()).model->size(), net->size() - 2);
  EXPECT_EQ(load_any_model((dir / "m.safetensors").string()).model->size(), net->size());
  EXPECT_THROW(load_any_model((dir / "none.onnx").string()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gradflow
