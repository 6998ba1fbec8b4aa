// LBFGS against torch.optim.LBFGS: tests/golden/lbfgs.json (tools/golden/make_lbfgs_golden.py),
// with and without the strong-Wolfe line search, through the trainer as the CLI runs it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

using nlohmann::json;

json read(const char* name) { return json::parse(std::ifstream(std::string(GRADFLOW_GOLDEN_DIR "/") + name)); }

Tensor tensor(const json& v, std::size_t rows, std::size_t cols) {
  Tensor t(rows, cols);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = v.at(i).get<float>();
  return t;
}

// optim.json's 4-8-3 tanh MLP with torch's initial weights, and its 12 samples.
struct GoldenNet {
  Sequential net{4, {nn::dense(8), nn::tanh(), nn::dense(3)}};
  Dataset data;
  GoldenNet() {
    const json g = read("optim.json");
    for (std::size_t k : {0u, 2u}) {
      Layer& l = net.layer(k);
      l.params()[0] = tensor(g["initial"][std::to_string(k) + ".weight"], l.out_features(), l.in_features());
      l.params()[1] = tensor(g["initial"][std::to_string(k) + ".bias"], 1, l.out_features());
    }
    data.x = tensor(g["x"], 12, 4);
    data.y = Tensor(12, 1);
    for (std::size_t i = 0; i < 12; ++i) data.y[i] = g["y"][i].get<float>();
    data.num_classes = 3;
  }
};

TEST(TorchLbfgs, FollowsTorchsTrajectoryStepByStep) {
  const json golden = read("lbfgs.json");
  for (const json& c : golden["configs"]) {
    HyperparameterValues v;
    for (const auto& [k, x] : c["options"].items())
      if (k == "line_search_fn") v["strong_wolfe"] = 1;
      else v[k] = x.get<double>();
    auto opt = make_optimizer("lbfgs", v);
    GoldenNet s;
    Loss ce(LossKind::CrossEntropy);
    // One epoch of one full batch per torch step(closure); the loss it reports is the first evaluation's.
    Trainer t(s.net, ce, *opt, TrainOptions{.epochs = 1, .batch_size = 12, .shuffle = false});
    for (std::size_t step = 0; step < 3; ++step) {
      const double loss = t.fit(s.data).back().train_loss, want = c["losses"][step].get<double>();
      EXPECT_NEAR(loss, want, 1e-5 * std::max(1.0, want)) << c["options"].dump() << " step " << step;
    }
    const auto& lbfgs = dynamic_cast<const LBFGS&>(*opt);
    EXPECT_EQ(lbfgs.iterations(), c["n_iter"].get<std::size_t>()) << c["options"].dump();
    EXPECT_EQ(lbfgs.evaluations(), c["func_evals"].get<std::size_t>()) << c["options"].dump();
    double worst = 0;
    for (std::size_t k : {0u, 2u})
      for (std::size_t p = 0; p < 2; ++p) {
        const json& want = c["final"][std::to_string(k) + (p ? ".bias" : ".weight")];
        const Tensor& got = s.net.layer(k).params()[p];
        for (std::size_t i = 0; i < got.size(); ++i)
          worst = std::max(worst, std::fabs(got[i] - want[i].get<double>()) / std::max(1.0, std::fabs(want[i].get<double>())));
      }
    std::printf("  lbfgs %-75s max rel. difference %.2e\n", c["options"].dump().c_str(), worst);
    // (looser than the first-order rules' 2e-5: dot products in double here, float32 in torch, feed the
    // step lengths and the line search's branches)
    EXPECT_LT(worst, 2e-4) << c["options"].dump();
  }
}

TEST(Lbfgs, LeavesFrozenLayersAndStopsWhereTheGradientVanishes) {
  GoldenNet s;
  s.net.layer(0).set_trainable(false);
  const Tensor before = s.net.layer(0).params()[0];
  auto opt = make_optimizer("lbfgs", {{"strong_wolfe", 1}});
  Loss ce(LossKind::CrossEntropy);
  Trainer(s.net, ce, *opt, TrainOptions{.epochs = 3, .batch_size = 12, .shuffle = false}).fit(s.data);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(s.net.layer(0).params()[0][i], before[i]);
  EXPECT_THROW(LBFGS(LBFGSOptions{.lr = 0}), std::invalid_argument);
  EXPECT_THROW(make_optimizer("lbfgs", {{"history_size", 0}}), std::invalid_argument);
}

}  // namespace
}  // namespace gradflow
