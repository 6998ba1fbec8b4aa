// Diagnostics: recorded values against values computed here, and the warnings on constructed
// cases (and silence on a healthy net).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <set>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

double frob(const Tensor& t) {
  double s = 0;
  for (float v : t.span()) s += static_cast<double>(v) * v;
  return std::sqrt(s);
}

TEST(Diagnostics, RecordsMatchValuesComputedDirectly) {
  Sequential net(3, {nn::dense(4), nn::relu(), nn::dense(2), nn::sigmoid()}, 5);
  // Unit 0 of the ReLU never fires: its weights are negative and the inputs positive.
  for (std::size_t j = 0; j < 3; ++j) net.layer(0).params()[0](0, j) = -1.0f;
  net.layer(0).params()[1][0] = -0.5f;
  Tensor x(8, 3), y(8, 1);
  Rng rng(1);
  for (float& v : x.span()) v = rng.uniform(0.1f, 1.0f);
  for (std::size_t r = 0; r < 8; ++r) y[r] = static_cast<float>(r % 2);
  Loss mse(LossKind::MeanSquaredError);
  const double lr = 0.1;
  SGD sgd(lr);
  Diagnostics diag(DiagnosticsOptions{.every = 1});
  Trainer t(net, mse, sgd);
  t.add_callback(diag);
  diag.on_train_begin(t);

  const Tensor w0 = net.layer(0).params()[0], w2 = net.layer(2).params()[0];
  const Tensor start = net.parameters();
  t.step(x, y);
  ASSERT_EQ(diag.records().size(), 1u);
  const DiagnosticsRecord& r = diag.records()[0];
  EXPECT_EQ(r.step, 1u);
  ASSERT_EQ(r.layers.size(), 4u);
  // Weight norms before the update; the update ratio of plain SGD is lr·‖g‖/‖W‖.
  EXPECT_NEAR(r.layers[0].weight_norm, frob(w0), 1e-6);
  EXPECT_NEAR(r.layers[2].weight_norm, frob(w2), 1e-6);
  const double g0 = frob(net.layer(0).grads()[0]), g2 = frob(net.layer(2).grads()[0]);
  EXPECT_NEAR(r.layers[0].grad_norm, g0, 1e-6);
  EXPECT_NEAR(r.layers[2].grad_norm, g2, 1e-6);
  EXPECT_NEAR(r.layers[0].update_ratio, lr * g0 / frob(w0), 1e-6);
  // Output statistics of each layer over the batch, recomputed from a forward pass with the
  // weights the step started from.
  Sequential same(3, {nn::dense(4), nn::relu(), nn::dense(2), nn::sigmoid()}, 5);
  same.parameters() = start;
  same.forward(x, Mode::Train);
  for (std::size_t i = 0; i < 4; ++i) {
    const Tensor& out = same.output(i);
    double m = 0, v = 0;
    for (float e : out.span()) m += e;
    m /= static_cast<double>(out.size());
    for (float e : out.span()) v += (e - m) * (e - m);
    EXPECT_NEAR(r.layers[i].out_mean, m, 1e-5) << i;
    EXPECT_NEAR(r.layers[i].out_std, std::sqrt(v / static_cast<double>(out.size())), 1e-5) << i;
  }
  // Dead: ReLU units that are zero for all 8 samples (unit 0 by construction).
  const Tensor& a = same.output(1);
  std::size_t dead = 0;
  for (std::size_t j = 0; j < 4; ++j) {
    bool zero = true;
    for (std::size_t k = 0; k < 8; ++k) zero &= a(k, j) == 0.0f;
    dead += zero;
  }
  EXPECT_GE(dead, 1u);
  EXPECT_DOUBLE_EQ(r.layers[1].dead, static_cast<double>(dead) / 4);
  EXPECT_TRUE(std::isnan(r.layers[0].dead));
  EXPECT_GE(r.layers[3].saturated, 0.0);
}

std::vector<DiagnosticWarning> train_and_watch(Sequential& net, Optimizer& opt, const Dataset& d, std::size_t epochs,
                                               std::size_t every = 10) {
  Loss ce(LossKind::CrossEntropy);
  Diagnostics diag(DiagnosticsOptions{.every = every});
  TrainOptions o{.epochs = epochs, .batch_size = 32, .stop_on_non_finite = false};
  Trainer t(net, ce, opt, o);
  t.add_callback(diag);
  try {
    t.fit(d);
  } catch (const std::exception&) {
  }
  for (const auto& w : diag.warnings()) std::printf("  warning: %s\n", w.message.c_str());
  return diag.warnings();
}

bool has(const std::vector<DiagnosticWarning>& ws, const std::string& kind) {
  return std::any_of(ws.begin(), ws.end(), [&](const auto& w) { return w.kind == kind; });
}

TEST(DiagnosticsWarnings, AHugeLearningRateKillsReLUs) {
  Sequential net(2, {nn::dense(64), nn::relu(), nn::dense(64), nn::relu(), nn::dense(2)}, 1);
  SGD sgd(5.0);
  const auto ws = train_and_watch(net, sgd, synthetic::spirals(500, 2, 0.1f, 1), 5);
  EXPECT_TRUE(has(ws, "dead"));
}

// A deep net of `depth` 256-unit layers on the 2-D moons data.
Sequential deep_net(std::size_t depth, LayerSpec act, Init init) {
  std::vector<LayerSpec> layers;
  for (std::size_t i = 0; i < depth; ++i) {
    layers.push_back(nn::dense(256, init));
    layers.push_back(act);
  }
  layers.push_back(nn::dense(2, init));
  return Sequential(2, layers, 1);
}

// The first-to-last ratios below were measured at initialization here (seeds 1–3) and in
// PyTorch on Fashion-MNIST (issue #12); the warning thresholds are 1e-3 and 1e3, so each case
// sits several orders of magnitude past (or short of) its threshold on any CPU.

TEST(DiagnosticsWarnings, SigmoidUnderNormalInitSaturatesYetItsGradientDoesNotVanish) {
  // N(0,1) weights drive sigmoid into its flat tails, but the same large weights multiply the
  // small derivatives back up: the first layer gets 0.4–0.7 of the last layer's gradient norm.
  Sequential net = deep_net(10, nn::sigmoid(), Init::Normal);
  SGD sgd(0.1);
  const auto ws = train_and_watch(net, sgd, synthetic::moons(320, 0.1f, 1), 2, 5);
  EXPECT_TRUE(has(ws, "saturated"));
  EXPECT_FALSE(has(ws, "vanishing"));
  EXPECT_FALSE(has(ws, "exploding"));
}

TEST(DiagnosticsWarnings, SigmoidUnderGlorotInitHasVanishingGradients) {
  // Sigmoid's mean of 0.5 and slope of at most 0.25 shrink the gradient layer by layer:
  // first/last ≈ 1e-7 over 10 layers.
  Sequential net = deep_net(10, nn::sigmoid(), Init::GlorotUniform);
  SGD sgd(0.1);
  const auto ws = train_and_watch(net, sgd, synthetic::moons(320, 0.1f, 1), 2, 5);
  EXPECT_TRUE(has(ws, "vanishing"));
  EXPECT_FALSE(has(ws, "exploding"));
}

TEST(DiagnosticsWarnings, TanhUnderNormalInitHasExplodingGradients) {
  // Each tanh layer under N(0,1) multiplies the backward signal by ≈ 2.4: first/last ≈ 7e3
  // over 10 layers, ≈ 5e8 over 20; 15 layers here. A tiny rate keeps it at initialization.
  Sequential net = deep_net(15, nn::tanh(), Init::Normal);
  SGD sgd(1e-7);
  const auto ws = train_and_watch(net, sgd, synthetic::moons(320, 0.1f, 1), 1, 2);
  EXPECT_TRUE(has(ws, "exploding"));
  EXPECT_FALSE(has(ws, "vanishing"));
}

const DiagnosticWarning* find(const std::vector<DiagnosticWarning>& ws, const std::string& kind) {
  const auto w = std::find_if(ws.begin(), ws.end(), [&](const auto& x) { return x.kind == kind; });
  return w == ws.end() ? nullptr : &*w;
}

// The lecture's case as the issue saw it: a 6×128 tanh net under N(0,1) saturates while its
// gradient grows toward the input, and the warning says so (it used to say "vanishes").
TEST(DiagnosticsWarnings, TanhUnderNormalInitSaturatesAndItsGradientExplodesTowardTheInput) {
  Sequential net = deep_net(6, nn::tanh(), Init::Normal);
  SGD sgd(1e-7);
  const auto ws = train_and_watch(net, sgd, synthetic::moons(320, 0.1f, 1), 1, 2);
  const DiagnosticWarning* w = find(ws, "saturated");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("explodes toward the input"), std::string::npos) << w->message;
  EXPECT_EQ(w->message.find("vanish"), std::string::npos) << w->message;
  // One line for all the layers the cause hits, not one per layer.
  EXPECT_EQ(std::count_if(ws.begin(), ws.end(), [](const auto& x) { return x.kind == "saturated"; }), 1) << w->message;
  EXPECT_EQ(w->message.rfind("layers 3, 5, …, 11 (tanh): ", 0), 0u) << w->message;  // the first sees 2-D inputs
}

// Dead units behind a frozen layer are not the learning rate's doing.
TEST(DiagnosticsWarnings, DeadUnitsInAFrozenLayerNameTheReusedWeightsNotTheRate) {
  Sequential net(2, {nn::dense(32), nn::relu(), nn::dense(2)}, 1);
  net.layer(0).params()[0].fill(-1.0f);  // every unit off for inputs ≥ 0
  net.layer(0).params()[1].fill(-0.1f);
  net.layer(0).set_trainable(false);
  Dataset d = synthetic::spirals(200, 2, 0.1f, 1);
  for (float& v : d.x.span()) v = std::fabs(v);
  SGD sgd(0.01);
  const auto ws = train_and_watch(net, sgd, d, 2, 2);
  const DiagnosticWarning* w = find(ws, "dead");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("frozen"), std::string::npos) << w->message;
  EXPECT_EQ(w->message.find("learning rate"), std::string::npos) << w->message;
}

// Unscaled inputs: the remedy is to standardize them, not the rate or He initialization.
TEST(DiagnosticsWarnings, DeadUnitsOnUnscaledInputsNameStandardization) {
  Sequential net(2, {nn::dense(32), nn::relu(), nn::dense(2)}, 1);
  net.layer(0).params()[0].fill(-1.0f);
  Dataset d = synthetic::spirals(200, 2, 0.1f, 1);
  for (float& v : d.x.span()) v = 50.0f + std::fabs(v);  // raw measurements far from 0
  Loss ce(LossKind::CrossEntropy);
  Diagnostics diag(DiagnosticsOptions{.every = 2, .input_scale = input_scale(d.x)});
  SGD sgd(0.001);
  Trainer t(net, ce, sgd, {.epochs = 2, .batch_size = 32});
  t.add_callback(diag);
  t.fit(d);
  const DiagnosticWarning* w = find(diag.warnings(), "dead");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("--standardize"), std::string::npos) << w->message;
  EXPECT_EQ(w->message.find("He initialization"), std::string::npos) << w->message;
  EXPECT_GT(input_scale(d.x), kUnscaledInputs);
  EXPECT_LT(input_scale(synthetic::spirals(200, 2, 0.1f, 1).x), kUnscaledInputs);
}

TEST(DiagnosticsWarnings, GradientsThatGrowStepAfterStepAreExploding) {
  // Gradient descent on a deep linear net with far too large a rate diverges geometrically:
  // the gradient norm grows many times per step until it overflows.
  Sequential net(1, {nn::dense(16), nn::dense(16), nn::dense(16), nn::dense(1)}, 2);
  SGD sgd(0.5);
  Loss mse(LossKind::MeanSquaredError);
  Diagnostics diag(DiagnosticsOptions{.every = 1});
  Trainer t(net, mse, sgd, TrainOptions{.epochs = 1, .batch_size = 16, .stop_on_non_finite = false});
  t.add_callback(diag);
  try {
    t.fit(synthetic::sine(256, 1));
  } catch (const std::exception&) {
  }
  for (const auto& w : diag.warnings()) std::printf("  warning: %s\n", w.message.c_str());
  EXPECT_TRUE(has(diag.warnings(), "exploding"));
  EXPECT_FALSE(has(diag.warnings(), "vanishing"));
}

TEST(DiagnosticsWarnings, AHealthyNetStaysSilent) {
  Sequential net(2, {nn::dense(32), nn::relu(), nn::dense(32), nn::relu(), nn::dense(2)}, 1);
  Adam adam(AdamOptions{.lr = 0.01});
  const auto ws = train_and_watch(net, adam, synthetic::moons(1000, 0.1f, 1), 10);
  EXPECT_TRUE(ws.empty());
}


// ---- The diagnosis, scenario by scenario: the lecture's cases, each with the cause its warnings
// must name and no other. A scenario trains a small net on 2-D data for a few epochs, recording
// often; a run that diverges counts as a "diverged" warning with TrainingDiverged's cause.
struct Scenario {
  const char* name;
  std::function<Sequential()> net;
  std::function<std::unique_ptr<Optimizer>()> optimizer;
  std::function<Dataset()> data;
  std::size_t epochs, batch, every;
  std::set<std::string> expected;  // "kind:cause" each of which must be warned; empty: silence
  std::function<void(Sequential&)> prepare = nullptr;
};

std::unique_ptr<Optimizer> sgd(double lr) { return std::make_unique<SGD>(lr); }

Dataset moons() { return synthetic::moons(320, 0.1f, 1); }

Dataset shifted_spirals() {  // raw measurements around 50, as unstandardized features often are
  Dataset d = synthetic::spirals(400, 2, 0.1f, 1);
  for (float& v : d.x.span()) v = 50.0f + 10.0f * v;
  return d;
}

Sequential small_relu_net() { return Sequential(2, {nn::dense(32), nn::relu(), nn::dense(2)}, 1); }

void reuse_frozen(Sequential& net) {  // a reused first layer no unit of which fires on this data
  net.layer(0).params()[0].fill(-1.0f);
  net.layer(0).params()[1].fill(-0.1f);
  net.layer(0).set_trainable(false);
}

Dataset positive_spirals() {
  Dataset d = synthetic::spirals(200, 2, 0.1f, 1);
  for (float& v : d.x.span()) v = std::fabs(v);
  return d;
}

Sequential batchnorm_net() {
  return Sequential(2, {nn::dense(32), nn::batch_norm(), nn::relu(), nn::dense(32), nn::batch_norm(), nn::relu(),
                        nn::dense(2)},
                    1);
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"sigmoid under N(0,1)", [] { return deep_net(10, nn::sigmoid(), Init::Normal); }, [] { return sgd(0.1); },
       moons, 2, 32, 5, {"saturated:normal_init"}},
      {"sigmoid under Glorot", [] { return deep_net(10, nn::sigmoid(), Init::GlorotUniform); }, [] { return sgd(0.1); },
       moons, 2, 32, 5, {"vanishing:saturating_activation"}},
      {"tanh under N(0,1)", [] { return deep_net(6, nn::tanh(), Init::Normal); }, [] { return sgd(0.01); }, moons, 2,
       32, 2, {"saturated:normal_init"}},
      {"deep tanh under N(0,1), at initialization", [] { return deep_net(15, nn::tanh(), Init::Normal); },
       [] { return sgd(1e-7); }, moons, 1, 32, 2, {"saturated:normal_init", "exploding:normal_init"}},
      {"tanh under Glorot", [] { return deep_net(6, nn::tanh(), Init::GlorotUniform); }, [] { return sgd(0.01); },
       moons, 3, 32, 5, {}},
      {"deep ReLU under He", [] { return deep_net(10, nn::relu(), Init::HeNormal); }, [] { return sgd(0.01); }, moons,
       3, 32, 5, {}},
      {"deep ReLU under N(0,1)", [] { return deep_net(10, nn::relu(), Init::Normal); }, [] { return sgd(0.01); },
       moons, 2, 32, 2, {"diverged:normal_init"}},
      {"deep ReLU under N(0,1) at a rate of 1e4", [] { return deep_net(6, nn::relu(), Init::Normal); },
       [] { return sgd(1e4); }, moons, 2, 32, 2, {"diverged:learning_rate"}},
      {"dying ReLU at a high rate",
       [] { return Sequential(2, {nn::dense(64), nn::relu(), nn::dense(64), nn::relu(), nn::dense(2)}, 1); },
       [] { return sgd(3.0); }, [] { return synthetic::spirals(500, 2, 0.1f, 1); }, 5, 32, 10,
       {"dead:learning_rate"}},
      {"unstandardized inputs",
       [] { return Sequential(2, {nn::dense(32), nn::relu(), nn::dense(32), nn::relu(), nn::dense(2)}, 1); },
       [] { return sgd(0.01); }, shifted_spirals, 3, 32, 5, {"dead:unscaled_inputs"}},
      {"frozen pretrained layer", small_relu_net, [] { return sgd(0.01); }, positive_spirals, 2, 32, 2, {"dead:frozen"},
       reuse_frozen},
      {"SELU without LeCun normal", [] { return deep_net(10, nn::selu(), Init::HeNormal); }, [] { return sgd(0.001); },
       moons, 2, 32, 5, {"selu:selu_init"}},
      {"SELU with LeCun normal", [] { return deep_net(10, nn::selu(), Init::LeCunNormal); }, [] { return sgd(0.001); },
       moons, 2, 32, 5, {}},
      {"BatchNorm with batch 2", batchnorm_net, [] { return sgd(0.01); }, moons, 1, 2, 20, {"batchnorm:small_batch"}},
      {"BatchNorm with batch 32", batchnorm_net, [] { return sgd(0.01); }, moons, 3, 32, 5, {}},
      {"a diverging rate",
       [] { return Sequential(2, {nn::dense(32), nn::relu(), nn::dense(32), nn::relu(), nn::dense(2)}, 1); },
       [] { return sgd(300.0); }, moons, 3, 32, 5, {"diverged:learning_rate"}},
  };
  return all;
}

class Diagnosis : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Diagnosis, NamesTheScenariosCauseAndNoOther) {
  const Scenario& s = scenarios()[GetParam()];
  Sequential net = s.net();
  if (s.prepare) s.prepare(net);
  const std::unique_ptr<Optimizer> opt = s.optimizer();
  const Dataset d = s.data();
  Loss ce(LossKind::CrossEntropy);
  Diagnostics diag(DiagnosticsOptions{.every = s.every, .input_scale = input_scale(d.x)});
  Trainer t(net, ce, *opt, TrainOptions{.epochs = s.epochs, .batch_size = s.batch});
  t.add_callback(diag);
  std::set<std::string> got;
  try {
    t.fit(d);
  } catch (const TrainingDiverged& e) {
    got.insert(std::string("diverged:") + e.cause);
    std::printf("  %s: %s\n", s.name, e.what());
  }
  for (const auto& w : diag.warnings()) {
    got.insert(w.kind + ":" + w.cause);
    std::printf("  %s: [%s:%s] %s\n", s.name, w.kind.c_str(), w.cause.c_str(), w.message.c_str());
  }
  for (const std::string& e : s.expected) EXPECT_TRUE(got.count(e)) << s.name << ": expected " << e;
  std::set<std::string> causes;
  for (const std::string& e : s.expected) causes.insert(e.substr(e.find(':') + 1));
  for (const std::string& g : got)
    EXPECT_TRUE(causes.count(g.substr(g.find(':') + 1))) << s.name << ": a wrong cause, " << g;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Diagnosis, ::testing::Range<std::size_t>(0, 16), [](const auto& info) {
  std::string n = scenarios()[info.param].name;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

TEST(Diagnosis, TheTableCoversEveryScenario) { EXPECT_EQ(scenarios().size(), 16u); }

}  // namespace
}  // namespace gradflow
