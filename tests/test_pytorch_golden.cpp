// gradflow against PyTorch 1.13: activations, losses and an SGD trajectory, from values
// committed in tests/golden/core.json (made by tools/golden/make_core_golden.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

using nlohmann::json;

const json& golden() {
  static const json j = [] {
    std::ifstream f(GRADFLOW_GOLDEN_DIR "/core.json");
    return json::parse(f);
  }();
  return j;
}

Tensor tensor(const json& values, std::size_t rows, std::size_t cols) {
  Tensor t(rows, cols);
  EXPECT_EQ(values.size(), rows * cols);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = values[i].get<float>();
  return t;
}

void expect_close(const Tensor& got, const json& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double w = want[i].get<double>();
    const double err = std::fabs(got[i] - w) / std::max(1.0, std::fabs(w));
    worst = std::max(worst, err);
    EXPECT_LE(err, tol) << what << "[" << i << "]: gradflow " << got[i] << ", torch " << w;
  }
  std::printf("  %-28s max rel. difference to torch %.2e\n", what.c_str(), worst);
}

TEST(PyTorchGolden, Activations) {
  const json& g = golden();
  const Tensor x = tensor(g["x"], 4, 5), dy = tensor(g["dy"], 4, 5);
  const std::pair<const char*, LayerSpec> cases[] = {
      {"identity", nn::identity()},   {"sigmoid", nn::sigmoid()},       {"tanh", nn::tanh()},
      {"relu", nn::relu()},           {"leaky_relu", nn::leaky_relu()}, {"rrelu_eval", nn::rrelu()},
      {"elu", nn::elu()},             {"selu", nn::selu()},             {"softmax", nn::softmax()},
      {"prelu_per_unit", nn::prelu(true)}};
  for (const auto& [name, spec] : cases) {
    const json& want = g["activations"][name];
    Sequential net(5, {spec});
    Layer& layer = net.layer(0);
    if (spec.kind == LayerKind::PReLU) layer.params()[0] = tensor(g["prelu_weight"], 1, 5);
    const Mode mode = spec.kind == LayerKind::RReLU ? Mode::Eval : Mode::Train;
    Tensor y, dx;
    layer.forward(x, y, mode, net.rng());
    layer.backward(x, y, dy, &dx);
    expect_close(y, want["y"], 2e-6, std::string(name) + " y");
    expect_close(dx, want["dx"], 2e-6, std::string(name) + " dx");
    if (want.contains("dweight")) expect_close(layer.grads()[0], want["dweight"], 2e-6, "prelu dweight");
  }
}

TEST(PyTorchGolden, Losses) {
  const json& g = golden();
  const Tensor z = tensor(g["z"], 6, 4), values = tensor(g["values"], 6, 4);
  Tensor labels(6, 1);
  for (std::size_t i = 0; i < 6; ++i) labels[i] = g["labels"][i].get<float>();
  const std::tuple<const char*, LossKind, const Tensor*> cases[] = {
      {"cross_entropy", LossKind::CrossEntropy, &labels},
      {"bce_values", LossKind::BinaryCrossEntropy, &values},
      {"bce_onehot", LossKind::BinaryCrossEntropy, &labels},
      {"mse_values", LossKind::MeanSquaredError, &values}};
  for (const auto& [name, kind, target] : cases) {
    Tensor dz;
    const double l = Loss(kind).forward_backward(z, *target, &dz);
    const json& want = g["losses"][name];
    EXPECT_NEAR(l, want["loss"].get<double>(), 2e-6 * std::max(1.0, std::fabs(want["loss"].get<double>())))
        << name;
    expect_close(dz, want["dz"], 2e-6, std::string(name) + " dz");
  }
}

// Same initial weights, same data order: minibatch SGD follows torch's trajectory.
TEST(PyTorchGolden, SgdTrajectory) {
  const json& g = golden()["sgd"];
  Sequential net(3, {nn::dense(8), nn::tanh(), nn::dense(6), nn::relu(), nn::dense(3)});
  const std::size_t dense_layers[] = {0, 2, 4};
  auto load = [&](const json& state) {
    for (std::size_t k : dense_layers) {
      Layer& l = net.layer(k);
      const std::string i = std::to_string(k);
      l.params()[0] = tensor(state[i + ".weight"], l.out_features(), l.in_features());
      l.params()[1] = tensor(state[i + ".bias"], 1, l.out_features());
    }
  };
  load(g["initial"]);
  Dataset d;
  d.x = tensor(g["x"], 10, 3);
  d.y = Tensor(10, 1);
  for (std::size_t i = 0; i < 10; ++i) d.y[i] = g["y"][i].get<float>();
  d.num_classes = 3;
  struct Losses : Callback {
    std::vector<double> seen;
    void on_step_end(Trainer&, const StepInfo& s) override { seen.push_back(s.loss); }
  } losses;
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(g["lr"].get<double>());
  TrainOptions o{.epochs = g["epochs"].get<std::size_t>(), .batch_size = g["batch_size"].get<std::size_t>(), .shuffle = false};
  Trainer t(net, ce, sgd, o);
  t.add_callback(losses);
  t.fit(d);
  ASSERT_EQ(losses.seen.size(), g["losses"].size());
  for (std::size_t i = 0; i < losses.seen.size(); ++i)
    EXPECT_NEAR(losses.seen[i], g["losses"][i].get<double>(), 1e-5) << "step " << i;
  for (std::size_t k : dense_layers) {
    const std::string i = std::to_string(k);
    expect_close(net.layer(k).params()[0], g["final"][i + ".weight"], 1e-5, i + ".weight");
    expect_close(net.layer(k).params()[1], g["final"][i + ".bias"], 1e-5, i + ".bias");
  }
}

}  // namespace
}  // namespace gradflow
