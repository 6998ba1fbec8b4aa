// BatchNorm against PyTorch's BatchNorm1d, Dropout's statistics, and the lecture's claim that
// batch normalization makes a deep sigmoid network trainable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

using nlohmann::json;

Tensor tensor(const json& v, std::size_t rows, std::size_t cols) {
  Tensor t(rows, cols);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = v.at(i).get<float>();
  return t;
}

void expect_close(const Tensor& got, const json& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double w = want[i].get<double>(), err = std::fabs(got[i] - w) / std::max(1.0, std::fabs(w));
    worst = std::max(worst, err);
    EXPECT_LE(err, tol) << what << "[" << i << "]: gradflow " << got[i] << ", torch " << w;
  }
  std::printf("  %-22s max rel. difference to torch %.2e\n", what.c_str(), worst);
}

TEST(BatchNormGolden, TrainingStepsRunningStatisticsAndEvaluation) {
  std::ifstream f(GRADFLOW_GOLDEN_DIR "/batchnorm.json");
  const json g = json::parse(f);
  Sequential net(5, {nn::batch_norm()});
  auto& bn = dynamic_cast<BatchNorm&>(net.layer(0));
  bn.params()[0] = tensor(g["weight"], 1, 5);
  bn.params()[1] = tensor(g["bias"], 1, 5);
  for (std::size_t s = 0; s < g["steps"].size(); ++s) {
    const json& st = g["steps"][s];
    const Tensor x = tensor(st["x"], 8, 5), dy = tensor(st["dy"], 8, 5);
    Tensor dx;
    expect_close(net.forward(x, Mode::Train), st["y"], 1e-5, "step " + std::to_string(s) + " y");
    net.backward(dy, Sequential::kAll, &dx);
    expect_close(dx, st["dx"], 1e-5, "step " + std::to_string(s) + " dx");
    expect_close(bn.grads()[0], st["dweight"], 1e-5, "step " + std::to_string(s) + " dweight");
    expect_close(bn.grads()[1], st["dbias"], 1e-5, "step " + std::to_string(s) + " dbias");
  }
  expect_close(bn.running_mean(), g["running_mean"], 1e-6, "running_mean");
  expect_close(bn.running_var(), g["running_var"], 1e-6, "running_var");
  EXPECT_EQ(bn.num_batches_tracked(), g["num_batches_tracked"].get<std::int64_t>());
  // Evaluation uses the running statistics.
  const Tensor x = tensor(g["eval"]["x"], 4, 5), dy = tensor(g["eval"]["dy"], 4, 5);
  Tensor dx;
  expect_close(net.forward(x, Mode::Eval), g["eval"]["y"], 1e-5, "eval y");
  net.backward(dy, Sequential::kAll, &dx);
  expect_close(dx, g["eval"]["dx"], 1e-5, "eval dx");
  EXPECT_EQ(bn.num_batches_tracked(), 3);  // evaluation does not update the statistics
}

TEST(BatchNorm, TrainingOnOneSampleIsAClearError) {
  Sequential net(3, {nn::dense(4), nn::batch_norm(), nn::relu()});
  try {
    net.forward(Tensor(1, 3), Mode::Train);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm(4): training needs more than 1 sample per batch, got 1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(net.forward(Tensor(1, 3), Mode::Eval));  // one sample is fine in evaluation
}

TEST(BatchNorm, AsFirstLayerItStandardizesTheInput) {
  Sequential net(2, {nn::batch_norm()});
  Tensor x(1000, 2);
  Rng rng(1);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    x(r, 0) = 50 + 10 * rng.normal();
    x(r, 1) = -3 + 0.1f * rng.normal();  // var 0.01: ε = 1e-5 shrinks it by 0.1%
  }
  const Tensor& y = net.forward(x, Mode::Train);
  for (std::size_t j = 0; j < 2; ++j) {
    double m = 0, v = 0;
    for (std::size_t r = 0; r < y.rows(); ++r) m += y(r, j);
    m /= static_cast<double>(y.rows());
    for (std::size_t r = 0; r < y.rows(); ++r) v += (y(r, j) - m) * (y(r, j) - m);
    EXPECT_NEAR(m, 0.0, 1e-4);
    EXPECT_NEAR(v / static_cast<double>(y.rows()), 1.0, 2e-3);
  }
}

TEST(Dropout, KeepsTheExpectedValueAndIsOffInEvaluation) {
  Sequential net(1000, {nn::dropout(0.3f)}, 5);
  Tensor x(100, 1000);
  x.fill(1.0f);
  const Tensor& y = net.forward(x, Mode::Train);
  double sum = 0;
  std::size_t zeros = 0;
  for (float v : y.span()) {
    sum += v;
    zeros += v == 0.0f;
    ASSERT_TRUE(v == 0.0f || std::fabs(v - 1.0f / 0.7f) < 1e-6f);
  }
  EXPECT_NEAR(sum / static_cast<double>(y.size()), 1.0, 0.01);
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(y.size()), 0.3, 0.005);
  const Tensor& e = net.forward(x, Mode::Eval);
  for (float v : e.span()) ASSERT_EQ(v, 1.0f);
}

TEST(Dropout, TheSeedFixesTheMask) {
  auto mask = [](std::uint64_t seed) {
    Sequential net(50, {nn::dropout(0.5f)}, seed);
    Tensor x(10, 50);
    x.fill(1.0f);
    return Tensor(net.forward(x, Mode::Train));
  };
  const Tensor a = mask(3), b = mask(3), c = mask(4);
  EXPECT_TRUE(std::equal(a.span().begin(), a.span().end(), b.span().begin()));
  EXPECT_FALSE(std::equal(a.span().begin(), a.span().end(), c.span().begin()));
}

// A BatchNorm, its activation and a Dropout after them, as the three layers one by one, and
// their parameters (γ, β drawn so that they matter).
struct BatchNormGroup {
  std::unique_ptr<Layer> bn, act, drop;
  std::vector<float> values, grads;
  BatchNormGroup(const LayerSpec& activation, std::size_t features, bool frozen)
      : bn(make_layer(nn::batch_norm(), features)), act(make_layer(activation, features)),
        drop(make_layer(nn::dropout(0.3f), features)), values(2 * features), grads(2 * features) {
    bn->bind(values.data(), grads.data());
    Rng r(11);
    for (float& v : values) v = 0.5f + r.normal() * 0.3f;
    bn->set_trainable(!frozen);
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Sequential runs a BatchNorm, its point-wise activation and a Dropout in BatchNorm's passes
// (forward_fused, backward_fused): every output, gradient and statistic must have the bits of
// the layers run one by one — in training and evaluation, frozen or not, with and without the
// dropout, with a batch that is not a multiple of the fused passes' row blocks.
TEST(Fused, BatchNormActivationAndDropoutGiveTheBitsOfTheLayersOneByOne) {
  const std::size_t B = 37, F = 300;
  Rng data(5);
  Tensor x(B, F), g(B, F);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 2.0f * data.normal(), g[i] = data.normal();
  for (const LayerSpec& act : {nn::relu(), nn::tanh(), nn::elu()})
    for (bool dropout : {true, false})
      for (Mode mode : {Mode::Train, Mode::Eval})
        for (bool frozen : {false, true}) {
          SCOPED_TRACE(std::string(to_string(act.kind)) + (dropout ? " + dropout" : "") +
                       (mode == Mode::Train ? ", training" : ", evaluation") + (frozen ? ", frozen" : ""));
          BatchNormGroup one(act, F, frozen), two(act, F, frozen);
          Rng r1(9), r2(9);
          Tensor y1, a1, d1, da1, dy1, dx1;
          one.bn->forward(x, y1, mode, r1);
          one.act->forward(y1, a1, mode, r1);
          if (dropout) {
            one.drop->forward(a1, d1, mode, r1);
            one.drop->backward(a1, d1, g, &da1);
          }
          one.act->backward(y1, a1, dropout ? da1 : g, &dy1);
          one.bn->backward(x, y1, dy1, &dx1);

          Tensor y2, a2, d2, dy2, dx2;
          auto& bn = dynamic_cast<BatchNorm&>(*two.bn);
          const BatchNorm::Followers next{act, a2, dropout ? dynamic_cast<Dropout*>(two.drop.get()) : nullptr,
                                          dropout ? &d2 : nullptr};
          bn.forward_fused(x, y2, next, mode, r2);
          bn.backward_fused(x, y2, next, g, dy2, &dx2);

          EXPECT_TRUE(same_bits(y1, y2));
          EXPECT_TRUE(same_bits(a1, a2));
          if (dropout) {
            EXPECT_TRUE(same_bits(d1, d2));
          }
          EXPECT_TRUE(same_bits(dy1, dy2));
          EXPECT_TRUE(same_bits(dx1, dx2));
          EXPECT_EQ(one.grads, two.grads);
          auto& bn1 = dynamic_cast<BatchNorm&>(*one.bn);
          EXPECT_TRUE(same_bits(bn1.running_mean(), bn.running_mean()));
          EXPECT_TRUE(same_bits(bn1.running_var(), bn.running_var()));
          EXPECT_EQ(bn1.num_batches_tracked(), bn.num_batches_tracked());
          EXPECT_EQ(r1.next_u64(), r2.next_u64());  // the dropout drew its key as forward() does
        }
}

std::vector<float> train_bn_dropout(std::uint64_t seed) {
  Sequential net(2, {nn::dense(16), nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(2)}, seed);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  TrainOptions o{.epochs = 3, .batch_size = 16, .seed = seed};
  Trainer(net, ce, sgd, o).fit(synthetic::moons(200, 0.1f, 1));
  std::vector<float> v(net.parameters().span().begin(), net.parameters().span().end());
  auto& bn = dynamic_cast<BatchNorm&>(net.layer(1));
  v.insert(v.end(), bn.running_var().span().begin(), bn.running_var().span().end());
  return v;
}

TEST(Determinism, BatchNormAndDropoutRunsRepeatBitForBit) {
  EXPECT_EQ(train_bn_dropout(7), train_bn_dropout(7));
  EXPECT_NE(train_bn_dropout(7), train_bn_dropout(8));
}

// The lecture: BN is the remedy for unstable gradients in deep nets. A 10-hidden-layer
// sigmoid MLP at the same learning rate reaches the target training loss in fewer epochs
// with BN than without.
std::size_t epochs_to_reach(bool batchnorm, double target, std::size_t max_epochs) {
  std::vector<LayerSpec> layers =
      nn::mlp(std::vector(10, nn::Block{.units = 32, .activation = nn::sigmoid(), .batch_norm = batchnorm}));
  layers.push_back(nn::dense(2));
  Sequential net(2, layers, 3);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.1);
  TrainOptions o{.epochs = 1, .batch_size = 32, .seed = 3};
  Trainer t(net, ce, sgd, o);
  const Dataset d = synthetic::moons(1000, 0.1f, 2);
  for (std::size_t e = 1; e <= max_epochs; ++e)
    if (t.fit(d).back().train_loss < target) return e;
  return max_epochs + 1;
}

TEST(Experiment, BatchNormTrainsADeepSigmoidNetInFewerEpochs) {
  const std::size_t with_bn = epochs_to_reach(true, 0.3, 60), without = epochs_to_reach(false, 0.3, 60);
  std::printf("  epochs to train loss < 0.3: with BN %zu, without %s\n", with_bn,
              without > 60 ? "> 60 (not reached)" : std::to_string(without).c_str());
  EXPECT_LE(with_bn, 60u);
  EXPECT_LT(with_bn, without);
}

TEST(BatchNormTraining, ALastBatchOfOneJoinsTheBatchBeforeOrIsDropped) {
  struct Sizes : Callback {
    std::vector<std::size_t> seen;
    void on_step_end(Trainer&, const StepInfo& s) override { seen.push_back(s.batch_size); }
  };
  const Dataset d = synthetic::moons(65, 0.1f, 1);  // 65 = 2 × 32 + 1
  for (bool drop : {false, true}) {
    Sequential net(2, {nn::dense(8), nn::batch_norm(), nn::relu(), nn::dense(2)}, 1);
    Loss ce(LossKind::CrossEntropy);
    SGD sgd(0.1);
    Trainer t(net, ce, sgd, TrainOptions{.epochs = 1, .batch_size = 32, .drop_last = drop});
    Sizes sizes;
    t.add_callback(sizes);
    EXPECT_EQ(t.folds_last_batch(d.size()), !drop);
    const auto history = t.fit(d);
    EXPECT_EQ(sizes.seen, drop ? std::vector<std::size_t>({32, 32}) : std::vector<std::size_t>({32, 33}));
    EXPECT_TRUE(std::isfinite(history.back().train_loss));
  }
}

}  // namespace
}  // namespace gradflow
