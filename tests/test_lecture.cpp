// The lecture's claims, as experiments that must come out the way it says.
#include <gtest/gtest.h>

#include <cmath>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

TEST(Xor, APerceptronCannotSeparateIt) {
  const Dataset d = synthetic::xor_gate();
  std::vector<int> t;
  for (std::size_t i = 0; i < 4; ++i) t.push_back(d.y(i, 0) > 0.5f ? 1 : -1);
  Perceptron p(2);
  EXPECT_GE(p.fit(d.x, t, 1000), 1u);  // at best 3 of 4 points: XOR is not linearly separable
}

TEST(Xor, APerceptronLearnsAndIfItCan) {
  const Dataset d = synthetic::xor_gate();
  const std::vector<int> and_targets = {-1, -1, -1, 1};
  Perceptron p(2);
  EXPECT_EQ(p.fit(d.x, and_targets, 100), 0u);
}

TEST(Xor, OneHiddenLayerWithANonLinearityLearnsIt) {
  const Dataset d = synthetic::xor_gate();
  Sequential net(2, {nn::dense(4), nn::tanh(), nn::dense(2), nn::softmax()}, 0);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.5);
  TrainOptions o{.epochs = 2000, .batch_size = 4};
  Trainer(net, ce, sgd, o).fit(d);
  EXPECT_EQ(evaluate(net, ce, d).accuracy, 1.0);
}

TEST(Xor, WithoutTheNonLinearityItCannot) {
  const Dataset d = synthetic::xor_gate();
  Sequential net(2, {nn::dense(4), nn::identity(), nn::dense(2)}, 0);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.5);
  TrainOptions o{.epochs = 2000, .batch_size = 4};
  Trainer(net, ce, sgd, o).fit(d);
  EXPECT_LE(evaluate(net, ce, d).accuracy, 0.75);
}

double fit_sine(std::vector<LayerSpec> layers, double lr) {
  const Dataset train = synthetic::sine(512, 1), test = synthetic::sine(256, 2);
  Sequential net(1, std::move(layers), 3);
  Loss mse(LossKind::MeanSquaredError);
  SGD sgd(lr);
  TrainOptions o{.epochs = 2000, .batch_size = 16};
  Trainer(net, mse, sgd, o).fit(train);
  return evaluate(net, mse, test).loss;
}

TEST(UniversalApproximation, OneHiddenTanhLayerFitsTheSine) {
  EXPECT_LT(fit_sine({nn::dense(32), nn::tanh(), nn::dense(1)}, 0.2), 1e-3);
}

TEST(UniversalApproximation, ALinearModelCannot) {
  // The best straight line, (3/π²)·x, leaves MSE 1/2 − 3/π² ≈ 0.196; a smaller rate keeps
  // this deeper-than-needed linear model stable.
  const double mse = fit_sine({nn::dense(32), nn::identity(), nn::dense(1)}, 0.01);
  EXPECT_TRUE(std::isfinite(mse));
  EXPECT_GT(mse, 0.1);
}

TEST(DeepReLU, SixHiddenLayersLearnTwoSpirals) {
  const Dataset train = synthetic::spirals(500, 2, 0.1f, 1), test = synthetic::spirals(250, 2, 0.1f, 2);
  std::vector<LayerSpec> layers;
  for (int i = 0; i < 6; ++i) {
    layers.push_back(nn::dense(32));
    layers.push_back(nn::relu());
  }
  layers.push_back(nn::dense(2));
  Sequential net(2, layers, 4);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.05);
  TrainOptions o{.epochs = 200, .batch_size = 32, .seed = 4};
  Trainer(net, ce, sgd, o).fit(train);
  EXPECT_GE(evaluate(net, ce, test).accuracy, 0.95);
}

}  // namespace
}  // namespace gradflow
