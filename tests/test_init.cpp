// Each initializer's sample mean and variance match its formula within 2%.
#include <gtest/gtest.h>

#include <cmath>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

struct InitCase {
  Init init;
  double variance;  // for fan_in = 400, fan_out = 600
};

void PrintTo(const InitCase& c, std::ostream* os) { *os << to_string(c.init); }

class InitStats : public ::testing::TestWithParam<InitCase> {};

TEST_P(InitStats, MeanAndVarianceMatchFormula) {
  const auto [init, want_var] = GetParam();
  Tensor w(600, 400);  // [fan_out, fan_in]: 240k draws
  Rng rng(42);
  init_weights(w, init, rng);
  double sum = 0, sq = 0;
  for (float v : w.span()) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(w.size());
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(var, want_var, 0.02 * want_var) << to_string(init);
  // "mean within 2%": of the standard deviation, as the true mean is 0.
  EXPECT_NEAR(mean, 0.0, 0.02 * std::sqrt(want_var)) << to_string(init);
  EXPECT_DOUBLE_EQ(init_variance(init, 400, 600), want_var);
}

INSTANTIATE_TEST_SUITE_P(
    All, InitStats,
    ::testing::Values(InitCase{Init::Normal, 1.0}, InitCase{Init::GlorotNormal, 1.0 / 500},
                      InitCase{Init::GlorotUniform, 1.0 / 500}, InitCase{Init::LeCunNormal, 1.0 / 400},
                      InitCase{Init::LeCunUniform, 1.0 / 400}, InitCase{Init::HeNormal, 2.0 / 400},
                      InitCase{Init::HeUniform, 2.0 / 400}),
    [](const auto& info) { return std::string(to_string(info.param.init)); });

TEST(InitBounds, UniformStaysInsideItsRange) {
  Tensor w(300, 100);
  Rng rng(1);
  init_weights(w, Init::GlorotUniform, rng);
  const float r = std::sqrt(3.0f / 200.0f);
  for (float v : w.span()) ASSERT_LT(std::fabs(v), r);
}

TEST(InitDefault, FollowsTheActivation) {
  Sequential net(8, {nn::dense(8), nn::relu(), nn::dense(8), nn::selu(), nn::dense(8), nn::tanh(),
                     nn::dense(8), nn::elu(), nn::dense(3)},
                 1);
  EXPECT_EQ(net.layer(0).spec().dense().init, Init::HeNormal);
  EXPECT_EQ(net.layer(2).spec().dense().init, Init::LeCunNormal);
  EXPECT_EQ(net.layer(4).spec().dense().init, Init::GlorotUniform);
  EXPECT_EQ(net.layer(6).spec().dense().init, Init::HeNormal);
  EXPECT_EQ(net.layer(8).spec().dense().init, Init::GlorotUniform);
}

TEST(InitDefault, BiasesStartAtZero) {
  Sequential net(5, {nn::dense(7), nn::relu(), nn::dense(2)}, 3);
  auto* d = dynamic_cast<Dense*>(&net.layer(0));
  ASSERT_NE(d, nullptr);
  for (float v : d->bias()->span()) EXPECT_EQ(v, 0.0f);
}

TEST(InitNames, ParseAcceptsKerasAndPyTorchSpellings) {
  EXPECT_EQ(parse_init("he_normal"), Init::HeNormal);
  EXPECT_EQ(parse_init("kaiming_uniform"), Init::HeUniform);
  EXPECT_EQ(parse_init("xavier_normal"), Init::GlorotNormal);
  EXPECT_THROW(parse_init("zeros"), std::invalid_argument);
}

}  // namespace
}  // namespace gradflow
