// Model-level contracts: the gradient rule, shape errors, frozen layers, determinism.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

Dataset small_spirals() { return synthetic::spirals(100, 2, 0.1f, 3); }

TEST(GradientRule, BackwardAssignsAndDoesNotAccumulate) {
  Sequential net(2, {nn::dense(8), nn::prelu(true), nn::dense(2)}, 1);
  const Dataset d = small_spirals();
  Tensor dz;
  Loss ce(LossKind::CrossEntropy);
  const Tensor& z = net.forward(d.x, Mode::Train);
  ce.forward_backward(z, d.y, &dz);
  net.backward(dz);
  const Tensor first = net.gradients();
  // Poison the gradients; a second identical backward must overwrite every one of them.
  net.gradients().fill(std::numeric_limits<float>::quiet_NaN());
  net.backward(dz);
  for (std::size_t i = 0; i < first.size(); ++i) ASSERT_EQ(net.gradients()[i], first[i]) << i;
}

TEST(ShapeErrors, NameTheLayerAndBothShapes) {
  Sequential net(784, {nn::dense(256), nn::relu(), nn::dense(10)}, 1);
  Tensor x(4, 783);
  try {
    net.forward(x, Mode::Eval);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Dense(784→256): input has 783 features (shape [4, 783]), expected 784");
  }
  Tensor h(4, 255);
  Tensor y;
  Rng rng;
  try {
    net.layer(2).forward(h, y, Mode::Eval, rng);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Dense(256→10): input has 255 features (shape [4, 255]), expected 256");
  }
  net.forward(Tensor(4, 784), Mode::Train);
  EXPECT_THROW(net.backward(Tensor(4, 9)), std::invalid_argument);
  Loss ce(LossKind::CrossEntropy);
  EXPECT_THROW(ce.forward(Tensor(4, 10), Tensor(3, 1)), std::invalid_argument);
}

TEST(Frozen, FrozenLayersGetNoUpdateAndNoGradientWork) {
  Sequential net(2, {nn::dense(16), nn::relu(), nn::dense(16), nn::relu(), nn::dense(2)}, 4);
  net.layer(0).set_trainable(false);
  const Tensor before = net.parameters();
  // Poison layer 0's gradients: if backward touched them the NaN would be gone.
  const std::size_t n0 = net.layer(0).num_params();
  for (std::size_t i = 0; i < n0; ++i) net.gradients()[i] = std::numeric_limits<float>::quiet_NaN();
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  TrainOptions o{.epochs = 3};
  Trainer(net, ce, sgd, o).fit(small_spirals());
  for (std::size_t i = 0; i < n0; ++i) {
    ASSERT_EQ(net.parameters()[i], before[i]);
    ASSERT_TRUE(std::isnan(net.gradients()[i]));
  }
  bool changed = false;
  for (std::size_t i = n0; i < before.size(); ++i) changed |= net.parameters()[i] != before[i];
  EXPECT_TRUE(changed);
}

std::vector<float> train_once(std::uint64_t seed) {
  Sequential net(2, {nn::dense(16), nn::rrelu(), nn::dense(16), nn::tanh(), nn::dense(2), nn::softmax()},
                 seed);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.05);
  TrainOptions o{.epochs = 3, .batch_size = 16, .seed = seed};
  Trainer(net, ce, sgd, o).fit(small_spirals());
  return {net.parameters().span().begin(), net.parameters().span().end()};
}

TEST(Determinism, SameSeedGivesBitIdenticalWeights) {
  const auto a = train_once(5), b = train_once(5), c = train_once(6);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << i;
  EXPECT_NE(a, c);
}

TEST(Modes, RReLUIsRandomInTrainingAndFixedInEvaluation) {
  Sequential net(4, {nn::rrelu()}, 2);
  Tensor x(2, 4);
  x.fill(-1.0f);
  const Tensor t1 = net.forward(x, Mode::Train);
  const Tensor t2 = net.forward(x, Mode::Train);
  bool differs = false;
  for (std::size_t i = 0; i < t1.size(); ++i) {
    EXPECT_LE(t1[i], -1.0f / 8);
    EXPECT_GE(t1[i], -1.0f / 3);
    differs |= t1[i] != t2[i];
  }
  EXPECT_TRUE(differs);
  const Tensor& e = net.forward(x, Mode::Eval);
  for (float v : e.span()) EXPECT_FLOAT_EQ(v, -(1.0f / 8 + 1.0f / 3) / 2);
}

TEST(Modes, RReLUAtZeroHasPyTorchsGradient) {
  // PyTorch's rrelu_with_noise draws a slope for x <= 0, and its evaluation mode (leaky_relu
  // with the mean slope) passes the slope at 0: the output is 0 either way, the gradient is not.
  Sequential net(4, {nn::rrelu()}, 2);
  Tensor x(2, 4), dy(2, 4), dx;
  x.fill(0.0f);
  dy.fill(1.0f);
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    for (float v : net.forward(x, mode).span()) EXPECT_EQ(v, 0.0f);
    net.backward(dy, Sequential::kAll, &dx);
    for (float g : dx.span()) {
      if (mode == Mode::Eval) {
        EXPECT_FLOAT_EQ(g, (1.0f / 8 + 1.0f / 3) / 2);
      }
      EXPECT_GE(g, 1.0f / 8);
      EXPECT_LE(g, 1.0f / 3);
    }
  }
}

TEST(Trainer, InOrderVisitAndLastPartialBatch) {
  // 10 samples at batch 4: steps of 4, 4 and 2.
  struct Sizes : Callback {
    std::vector<std::size_t> seen;
    void on_step_end(Trainer&, const StepInfo& s) override { seen.push_back(s.batch_size); }
  } sizes;
  Dataset d = synthetic::moons(10, 0.1f, 1);
  Sequential net(2, {nn::dense(3), nn::relu(), nn::dense(2)}, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  TrainOptions o{.epochs = 1, .batch_size = 4, .shuffle = false};
  Trainer t(net, ce, sgd, o);
  t.add_callback(sizes);
  t.fit(d);
  EXPECT_EQ(sizes.seen, (std::vector<std::size_t>{4, 4, 2}));
}

TEST(Trainer, CallbackCanStopTraining) {
  struct StopAfterTwo : Callback {
    void on_epoch_end(Trainer& t, const EpochMetrics& m) override {
      if (m.epoch == 2) t.request_stop();
    }
  } stop;
  Sequential net(2, {nn::dense(4), nn::relu(), nn::dense(2)}, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  TrainOptions o{.epochs = 10};
  Trainer t(net, ce, sgd, o);
  t.add_callback(stop);
  EXPECT_EQ(t.fit(small_spirals()).size(), 2u);
}

TEST(Trainer, EpochTimesAccountForTheEpoch) {
  Sequential net(2, {nn::dense(16), nn::relu(), nn::dense(2)}, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  Trainer t(net, ce, sgd, TrainOptions{.epochs = 2, .batch_size = 8});
  const Dataset d = small_spirals();
  for (const EpochMetrics& m : t.fit(d, &d)) {
    const EpochMetrics::Times& s = m.times;
    for (double v : {s.gather, s.forward, s.backward, s.update, s.callbacks, s.evaluate}) EXPECT_GE(v, 0.0);
    EXPECT_GT(s.forward, 0.0);
    EXPECT_GT(s.backward, 0.0);
    EXPECT_GT(s.evaluate, 0.0);  // the test set
    const double sum = s.gather + s.forward + s.backward + s.update + s.callbacks + s.evaluate;
    EXPECT_LE(sum, m.seconds * 1.0001);
  }
}

}  // namespace
}  // namespace gradflow

namespace gradflow {
namespace {

// Networks with every layer kind, trained a few steps so BatchNorm's running statistics and the
// weights are not at their initial values.
std::unique_ptr<Sequential> trained_net(std::size_t in, std::vector<LayerSpec> layers, std::uint64_t seed) {
  auto net = std::make_unique<Sequential>(in, std::move(layers), seed);
  const Dataset d = synthetic::spirals(128, 2, 0.1f, seed);
  Dataset wide = d;
  if (in != 2) {
    Rng rng(seed);
    wide.x.resize(d.size(), in);
    for (std::size_t i = 0; i < wide.x.size(); ++i) wide.x[i] = static_cast<float>(rng.normal());
  }
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.05);
  Trainer(*net, ce, sgd, {.epochs = 2, .batch_size = 32}).fit(wide);
  return net;
}

std::vector<std::unique_ptr<Sequential>> every_kind_nets() {
  std::vector<std::unique_ptr<Sequential>> nets;
  nets.push_back(trained_net(2, {nn::dense(16), nn::relu(), nn::dense(16), nn::tanh(), nn::dense(2), nn::softmax()}, 1));
  nets.push_back(trained_net(40, {nn::dense(64), nn::batch_norm(), nn::elu(), nn::dropout(0.2f), nn::dense(32),
                                  nn::batch_norm(), nn::leaky_relu(), nn::dense(2), nn::softmax()},
                             2));
  nets.push_back(trained_net(
      8, {nn::dense(24), nn::rrelu(), nn::dense(24), nn::prelu(true), nn::dense(24), nn::selu(), nn::dense(2)}, 3));
  nets.push_back(trained_net(300, {nn::dense(200), nn::sigmoid(), nn::dense(150), nn::batch_norm(), nn::dense(2)}, 4));
  return nets;
}

TEST(Evaluate, GivesTheBitsOfTheEvaluationForward) {
  for (const auto& net : every_kind_nets())
    for (const std::size_t rows : {1, 2, 7, 64, 65, 200, 300}) {
      Rng rng(rows);
      Tensor x(rows, net->in_features());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.normal());
      const Tensor want = net->forward(x, Mode::Eval);
      Sequential::Workspace ws;
      const Tensor& got = static_cast<const Sequential&>(*net).evaluate(x, ws);
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(got[i], want[i]) << net->summary() << "\nrows " << rows << ", element " << i;
    }
}

// The execution plan cut short: a forward or evaluation through layers [0, upto) splits the
// stage upto falls in (a Dense without its activation, a BatchNorm group without its dropout)
// and gives, at every upto, the bits the whole pass had there.
TEST(Plan, APassCutAtAnyLayerGivesTheWholePasssBitsThere) {
  for (const auto& net : every_kind_nets())
    for (const std::size_t rows : {1, 7, 64, 200}) {
      Rng rng(rows);
      Tensor x(rows, net->in_features());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.normal());
      net->forward(x, Mode::Eval);
      std::vector<Tensor> whole;
      for (std::size_t i = 0; i < net->size(); ++i) whole.push_back(net->output(i));
      for (std::size_t upto = 1; upto <= net->size(); ++upto) {
        const Tensor cut = net->forward(x, Mode::Eval, upto);
        Sequential::Workspace ws;
        const Tensor& evaluated = static_cast<const Sequential&>(*net).evaluate(x, ws, upto);
        const Tensor& want = whole[upto - 1];
        ASSERT_EQ(cut.size(), want.size());
        ASSERT_EQ(evaluated.size(), want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
          ASSERT_EQ(cut[i], want[i]) << net->summary() << "\nrows " << rows << ", upto " << upto << ", element " << i;
          ASSERT_EQ(evaluated[i], want[i]) << net->summary() << "\nrows " << rows << ", upto " << upto;
        }
      }
    }
}

// The seam where one model served many threads garbage: 8 threads × 100 predicts on one
// model, each bit-identical to one thread's (run under TSan by scripts/test-sanitizers.sh).
TEST(Evaluate, EightThreadsPredictingWithOneModelGetTheOneThreadBits) {
  for (const auto& owned : every_kind_nets()) {
    const Sequential& net = *owned;
    std::vector<Tensor> inputs, expected(8);
    for (std::size_t t = 0; t < 8; ++t) {
      Rng rng(100 + t);
      Tensor x(1 + 37 * t, net.in_features());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.normal());
      inputs.push_back(std::move(x));
      predict(net, inputs[t], expected[t], 64);
    }
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        Tensor out;
        for (int k = 0; k < 100; ++k) {
          predict(net, inputs[t], out, 64);
          if (std::memcmp(out.data(), expected[t].data(), out.size() * sizeof(float)) != 0) ++wrong;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0) << net.summary();
  }
}

TEST(TrainingClaim, RefusesASecondThreadAndAllowsTheSameThreadAgain) {
  Sequential net(2, {nn::dense(4), nn::relu(), nn::dense(2)}, 1);
  const Sequential::TrainingClaim first(net);
  { const Sequential::TrainingClaim again(net); }  // fit's own steps
  std::string error;
  std::thread([&] {
    try {
      const Sequential::TrainingClaim other(net);
    } catch (const std::logic_error& e) {
      error = e.what();
    }
  }).join();
  EXPECT_NE(error.find("being trained by another thread"), std::string::npos) << error;
}

}  // namespace
}  // namespace gradflow
