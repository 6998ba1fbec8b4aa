// torch.optim parity: optimizer trajectories, clipping and schedules against
// tests/golden/optim.json (tools/golden/make_optim_golden.py); early stopping; the guard
// against non-finite values.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

using nlohmann::json;

const json& golden() {
  static const json j = json::parse(std::ifstream(GRADFLOW_GOLDEN_DIR "/optim.json"));
  return j;
}

Tensor tensor(const json& v, std::size_t rows, std::size_t cols) {
  Tensor t(rows, cols);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = v.at(i).get<float>();
  return t;
}

// The golden 4-8-3 tanh MLP with torch's initial weights, and its data.
struct GoldenNet {
  Sequential net{4, {nn::dense(8), nn::tanh(), nn::dense(3)}};
  Dataset data;
  GoldenNet() {
    const json& g = golden();
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

// Through the registry, as the command line builds them: the golden file's arguments, the rest
// at the registered defaults, which must be torch's for the trajectories to match ("adamw" with
// no arguments at all is torch.optim.AdamW's defaults).
std::unique_ptr<Optimizer> make(const std::string& name, const json& o) {
  HyperparameterValues v;
  for (const auto& [k, x] : o.items()) {
    if (k == "betas") {
      v["beta1"] = x[0].get<double>();
      v["beta2"] = x[1].get<double>();
    } else {
      v[k] = x.is_boolean() ? (x.get<bool>() ? 1.0 : 0.0) : x.get<double>();
    }
  }
  return make_optimizer(name, v);
}

// The largest difference of the net's parameters from torch's state_dict `final`, relative
// where they exceed 1.
double worst_difference(Sequential& net, const json& final) {
  double worst = 0;
  for (std::size_t k : {0u, 2u})
    for (std::size_t p = 0; p < 2; ++p) {
      const json& want = final[std::to_string(k) + (p ? ".bias" : ".weight")];
      const Tensor& got = net.layer(k).params()[p];
      for (std::size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::fabs(got[i] - want[i].get<double>()) / std::max(1.0, std::fabs(want[i].get<double>())));
    }
  return worst;
}

TEST(TorchOptim, EveryOptimizerFollowsTorchsTrajectory) {
  for (const json& c : golden()["optimizers"]) {
    GoldenNet s;
    auto opt = make(c["name"], c["options"]);
    Loss ce(LossKind::CrossEntropy);
    TrainOptions o{.epochs = golden()["steps"].get<std::size_t>() / 3, .batch_size = 4, .shuffle = false};
    Trainer(s.net, ce, *opt, o).fit(s.data);
    const double worst = worst_difference(s.net, c["final"]);
    std::printf("  %-8s %-90s max rel. difference %.2e\n", c["name"].get<std::string>().c_str(),
                c["options"].dump().c_str(), worst);
    EXPECT_LT(worst, 2e-5) << c["name"] << " " << c["options"].dump();
  }
}

TEST(TorchOptim, FrozenLayersAndTheirStateStayUntouched) {
  GoldenNet s;
  s.net.layer(0).set_trainable(false);
  const Tensor before = s.net.parameters();
  Adam adam(AdamOptions{.lr = 0.01});
  Loss ce(LossKind::CrossEntropy);
  TrainOptions o{.epochs = 3, .batch_size = 4};
  Trainer(s.net, ce, adam, o).fit(s.data);
  for (std::size_t i = 0; i < s.net.layer(0).num_params(); ++i) ASSERT_EQ(s.net.parameters()[i], before[i]);
  for (std::size_t i = 0; i < s.net.layer(0).num_params(); ++i) ASSERT_EQ(adam.state()[0].second->data()[i], 0.0f);
}

// LBFGS against torch.optim.LBFGS: tests/golden/lbfgs.json (tools/golden/make_lbfgs_golden.py),
// with and without the strong-Wolfe line search, through the trainer as the CLI runs it.
TEST(TorchLbfgs, FollowsTorchsTrajectoryStepByStep) {
  const json lbfgs_golden = json::parse(std::ifstream(GRADFLOW_GOLDEN_DIR "/lbfgs.json"));
  for (const json& c : lbfgs_golden["configs"]) {
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
    const double worst = worst_difference(s.net, c["final"]);
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

TEST(TorchClipping, NormAndValueMatchTorch) {
  const json& g = golden()["clip"];
  for (const char* key : {"norm_0.05", "norm_100.0", "value_0.01"}) {
    GoldenNet s;
    for (std::size_t k : {0u, 2u}) {
      Layer& l = s.net.layer(k);
      l.grads()[0] = tensor(g["grads"][k], l.out_features(), l.in_features());
      l.grads()[1] = tensor(g["grads"][k + 1], 1, l.out_features());
    }
    const std::string name = key;
    const json* want;
    if (name.rfind("norm", 0) == 0) {
      const double total = clip_grad_norm(s.net, std::stod(name.substr(5)));
      EXPECT_NEAR(total, g[key]["total_norm"].get<double>(), 1e-6 * total) << key;
      want = &g[key]["grads"];
    } else {
      clip_grad_value(s.net, 0.01);
      want = &g[key];
    }
    for (std::size_t k : {0u, 2u})
      for (std::size_t p = 0; p < 2; ++p) {
        const Tensor& got = s.net.layer(k).grads()[p];
        const json& w = (*want)[k + p];
        for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], w[i].get<double>(), 1e-7) << key;
      }
  }
}

TEST(TorchSchedules, EveryScheduleGivesTorchsRateEpochByEpoch) {
  const json& g = golden()["schedules"];
  const std::pair<const char*, ScheduleOptions> cases[] = {
      {"step:5:0.5", parse_schedule("step:5:0.5", 20, 0)},
      {"exponential:0.9", parse_schedule("exponential:0.9", 20, 0)},
      {"cosine:20", parse_schedule("cosine", 20, 0)},
      {"cosine:8:0.001", parse_schedule("cosine:8:0.001", 20, 0)},
      {"warmup3+cosine", parse_schedule("cosine", 20, 3)},
      {"plateau:2:0.5", parse_schedule("plateau:2:0.5", 20, 0)},
  };
  for (const auto& [key, opts] : cases) {
    Schedule s(0.1, opts);
    for (std::size_t e = 0; e < 20; ++e) {
      const double want = g[key][e].get<double>();
      EXPECT_NEAR(s.lr(e), want, 1e-12 + 1e-9 * want) << key << " epoch " << e;
      if (opts.kind == ScheduleOptions::Kind::Plateau) s.observe(golden()["plateau_losses"][e].get<double>());
    }
  }
  EXPECT_THROW(parse_schedule("cosine:x", 10, 0), std::invalid_argument);
  EXPECT_THROW(parse_schedule("linear", 10, 0), std::invalid_argument);
}

TEST(EarlyStopping, StopsAfterPatienceAndRestoresTheBestEpoch) {
  // A model that overfits 40 noisy points: the validation loss turns up after a few epochs.
  // Selection watches the validation set only; the test set is reported, never consulted.
  Dataset train = synthetic::moons(40, 0.35f, 1), val = synthetic::moons(400, 0.35f, 2),
          test = synthetic::moons(400, 0.35f, 7);
  Sequential net(2, {nn::dense(128), nn::relu(), nn::dense(128), nn::relu(), nn::dense(2)}, 3);
  Loss ce(LossKind::CrossEntropy);
  Adam adam(AdamOptions{.lr = 0.01});
  EarlyStopping stop(5);
  struct Keep : Callback {
    std::vector<Tensor> params;
    void on_epoch_end(Trainer& t, const EpochMetrics&) override { params.push_back(t.model().parameters()); }
  } keep;
  TrainOptions o{.epochs = 300, .batch_size = 8};
  Trainer t(net, ce, adam, o);
  t.add_callback(keep);
  t.add_callback(stop);
  const auto history = t.fit(train, &test, &val);
  ASSERT_TRUE(stop.stopped_early());
  EXPECT_EQ(history.size(), stop.best_epoch() + 5);
  double best = 1e9, best_test = 1e9;
  std::size_t best_epoch = 0, best_test_epoch = 0;
  for (const auto& m : history) {
    ASSERT_FALSE(std::isnan(m.test_loss));
    if (m.val_loss < best) best = m.val_loss, best_epoch = m.epoch;
    if (m.test_loss < best_test) best_test = m.test_loss, best_test_epoch = m.epoch;
  }
  EXPECT_EQ(stop.best_epoch(), best_epoch);
  std::printf("  best epoch by validation loss: %zu, by test loss: %zu\n", best_epoch, best_test_epoch);
  const Tensor& want = keep.params[best_epoch - 1];
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(net.parameters()[i], want[i]);
  EXPECT_NEAR(evaluate(net, ce, val).loss, best, 1e-9);
}

TEST(NonFiniteGuard, AnExplodingRunStopsWithTheStepAndLayer) {
  std::vector<LayerSpec> layers;
  for (int i = 0; i < 6; ++i) {
    layers.push_back(nn::dense(64, Init::Normal));
    layers.push_back(nn::relu());
  }
  layers.push_back(nn::dense(2));
  Sequential net(2, layers, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(1e4);
  TrainOptions o{.epochs = 5};
  Trainer t(net, ce, sgd, o);
  struct Last : Callback {
    Tensor params;
    void on_step_end(Trainer& tr, const StepInfo&) override { params = tr.model().parameters(); }
  } last;
  t.add_callback(last);
  try {
    t.fit(synthetic::spirals(200, 2, 0.1f, 1));
    FAIL() << "the run did not stop";
  } catch (const TrainingDiverged& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("training diverged at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower the learning rate (now 10000)"), std::string::npos) << msg;
    if (e.layer < net.size()) {
      EXPECT_NE(msg.find("(" + net.layer(e.layer).name() + ")"), std::string::npos) << msg;
    }
    std::printf("  %s\n", msg.c_str());
  }
  // The step that went bad was not applied: the weights are those after the last good step.
  for (std::size_t i = 0; i < last.params.size(); ++i) ASSERT_EQ(net.parameters()[i], last.params[i]);
}

TEST(NonFiniteGuard, ADenseReportsANonFiniteTileOfItsGradientOnAnyThreadCount) {
  // Dense checks dW and db tile by tile as it writes them (the guard's check, in cache): one
  // overflowing row of dW — units 200 of 256, inside one tile — is found whichever thread
  // computes that tile; finite gradients are reported finite, a frozen layer reports nothing.
  const int saved = num_threads();
  Sequential net(784, {nn::dense(256)}, 1);
  Tensor x(32, 784), dy(32, 256);
  x.fill(2.0f);
  for (int threads : {1, 2, 3, 16}) {
    set_num_threads(threads);
    dy.fill(1e-3f);
    net.forward(x, Mode::Train);
    net.backward(dy);
    EXPECT_EQ(net.layer(0).gradients_finite(), std::optional<bool>(true)) << threads << " threads";
    dy(5, 200) = 3e38f;  // × 2 in every column of dW's row 200: inf
    net.forward(x, Mode::Train);
    net.backward(dy);
    EXPECT_EQ(net.layer(0).gradients_finite(), std::optional<bool>(false)) << threads << " threads";
    EXPECT_TRUE(std::isinf(net.gradients()[200 * 784 + 7]));
  }
  net.layer(0).set_trainable(false);  // its backward then computes dx alone
  Tensor dx;
  net.forward(x, Mode::Train);
  net.backward(dy, Sequential::kAll, &dx);
  EXPECT_EQ(net.layer(0).gradients_finite(), std::nullopt);
  set_num_threads(saved);
}

TEST(NonFiniteGuard, AGradientThatOverflowsWhileTheLossStaysFiniteStopsTheStepBeforeTheUpdate) {
  // z = 1e-38 · 1e38 = 1, the loss (1 + 10)² = 121, but dW = Σ 2·11/4 · 1e38 overflows: the
  // Dense's own check (not a scan) stops the step, names the layer and leaves the weight as it was.
  Sequential net(1, {nn::dense(1)}, 1);
  net.parameters()[0] = 1e-38f;
  net.parameters()[1] = 0.0f;
  Loss mse(LossKind::MeanSquaredError);
  SGD sgd(0.1);
  Trainer t(net, mse, sgd, TrainOptions{.batch_size = 4});
  Tensor x(4, 1), y(4, 1);
  x.fill(1e38f);
  y.fill(-10.0f);
  try {
    t.step(x, y);
    FAIL() << "the step did not stop";
  } catch (const TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("the gradient of layer 0 (Dense(1→1)) is not finite"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(net.parameters()[0], 1e-38f);
}

TEST(Divergence, ALossThatBlowsUpWhileStayingFiniteStopsTraining) {
  // Adam at lr 1e6: the loss reaches 1e11 and more without ever being NaN.
  Sequential net(2, {nn::dense(32), nn::relu(), nn::dense(2)}, 1);
  Loss ce(LossKind::CrossEntropy);
  Adam adam(AdamOptions{.lr = 1e6});
  Trainer t(net, ce, adam, TrainOptions{.epochs = 5, .batch_size = 32});
  try {
    t.fit(synthetic::spirals(200, 2, 0.1f, 1));
    FAIL() << "the run did not stop";
  } catch (const TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("times the first step's"), std::string::npos) << e.what();
  }
}

TEST(Divergence, EveryUpdateRuleStops) {
  // At lr 1e6 each rule ends in a blown-up or non-finite loss, gradient, weight or running
  // statistic, and the trainer stops.
  std::vector<std::unique_ptr<Optimizer>> rules;
  rules.push_back(std::make_unique<SGD>(SGDOptions{.lr = 1e6}));
  rules.push_back(std::make_unique<SGD>(SGDOptions{.lr = 1e6, .momentum = 0.9, .nesterov = true}));
  rules.push_back(std::make_unique<Adagrad>(AdagradOptions{.lr = 1e6}));
  rules.push_back(std::make_unique<RMSprop>(RMSpropOptions{.lr = 1e6, .momentum = 0.9, .centered = true}));
  rules.push_back(std::make_unique<Adam>(AdamOptions{.lr = 1e6, .amsgrad = true}));
  AdamWOptions adamw;
  adamw.lr = 1e6;
  rules.push_back(std::make_unique<AdamW>(adamw));
  for (auto& rule : rules) {
    Sequential net(2, {nn::dense(32), nn::batch_norm(), nn::relu(), nn::dense(2)}, 1);
    Loss ce(LossKind::CrossEntropy);
    Trainer t(net, ce, *rule, TrainOptions{.epochs = 20, .batch_size = 32});
    EXPECT_THROW(t.fit(synthetic::spirals(200, 2, 0.1f, 1)), TrainingDiverged) << rule->name();
  }
}

TEST(Divergence, StepReportsAnUpdateThatOverflowsTheWeights) {
  // Finite gradients, finite weights, an update beyond float's range: step() says so (the
  // trainer then stops with "the update made the weights of layer … non-finite").
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Sequential net(64, {nn::dense(64), nn::relu(), nn::dense(4)}, 1);
    SGD sgd(SGDOptions{.lr = 1e10});
    net.gradients().fill(1e-12f);
    EXPECT_TRUE(sgd.step(net));
    const std::size_t last = net.param_offset(2) + net.layer(2).num_params() - 1;
    net.gradients()[last] = 1e30f;  // the last bias: in the last thread's slice
    EXPECT_FALSE(sgd.step(net));
    EXPECT_TRUE(std::isinf(net.parameters()[last]));
  }
  set_num_threads(saved);
}

TEST(Divergence, NonFiniteRunningStatisticsStopTraining) {
  // Inputs of 1e20 overflow BatchNorm's batch variance to inf, while its normalized output,
  // the loss and every gradient stay finite: only the running variance shows it.
  Sequential net(2, {nn::batch_norm(), nn::dense(2)}, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  Trainer t(net, ce, sgd, TrainOptions{.epochs = 1, .batch_size = 8});
  Dataset d = synthetic::moons(64, 0.1f, 1);
  for (float& v : d.x.span()) v *= 1e20f;
  try {
    t.fit(d);
    FAIL() << "the run did not stop";
  } catch (const TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("has a non-finite running_var"), std::string::npos) << e.what();
    EXPECT_EQ(e.layer, 0u);
  }
}

}  // namespace
}  // namespace gradflow

namespace gradflow {
namespace {

// Records the optimizer's rate at every step of every epoch.
struct RateAtEachStep final : Callback {
  std::vector<std::vector<double>> rates;
  void on_epoch_begin(Trainer&, std::size_t) override { rates.emplace_back(); }
  void on_step_end(Trainer& t, const StepInfo&) override { rates.back().push_back(t.optimizer().learning_rate()); }
};

// Every schedule kind: an epoch's recorded lr is the rate its steps used — for plateau too,
// whose reduction at an epoch's end belongs to the next epoch.
TEST(Schedules, EachEpochsRecordedRateIsTheRateItsStepsUsed) {
  const Dataset d = synthetic::moons(256, 0.3f, 1);
  for (const char* text : {"none", "step:2:0.5", "exponential:0.7", "cosine", "plateau:0:0.5:0.5"}) {
    Sequential net(2, {nn::dense(8), nn::relu(), nn::dense(2)}, 1);
    SGD sgd(0.5);
    Loss ce(LossKind::CrossEntropy);
    Trainer t(net, ce, sgd, TrainOptions{.epochs = 6, .batch_size = 32});
    LrScheduler schedule(parse_schedule(text, 6, 0));
    RateAtEachStep seen;
    t.add_callback(schedule);
    t.add_callback(seen);
    const std::vector<EpochMetrics> h = t.fit(d, nullptr, &d);
    ASSERT_EQ(h.size(), 6u);
    bool changed = false;
    for (std::size_t e = 0; e < h.size(); ++e) {
      for (double r : seen.rates[e]) EXPECT_EQ(r, h[e].lr) << text << " epoch " << e + 1;
      changed |= e > 0 && h[e].lr != h[e - 1].lr;
    }
    if (std::string(text) != "none") {
      EXPECT_TRUE(changed) << text;
    }
  }
}

}  // namespace
}  // namespace gradflow
