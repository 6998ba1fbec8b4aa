// Finite-difference checks of every layer kind, activation and loss, and proof that the
// checker catches a wrong backward.
#include <gtest/gtest.h>

#include "gradcheck.h"

namespace gradflow {
namespace {

using testing::BoundLayer;
using testing::check_layer;
using testing::check_loss;
using testing::random_input;

struct Case {
  const char* label;
  LayerSpec spec;
  Mode mode = Mode::Train;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

class LayerGradient : public ::testing::TestWithParam<Case> {};

TEST_P(LayerGradient, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  for (std::uint64_t seed : {1, 2, 3}) {
    Rng rng(seed);
    const std::size_t in = c.spec.kind == LayerKind::Dense ? 5 : 6;
    BoundLayer b(make_layer(c.spec, in), seed);
    // Random points: also move PReLU's slopes away from their shared initial value.
    for (Tensor& p : b.layer->params())
      for (float& v : p.span()) v += rng.uniform(-0.2f, 0.2f);
    testing::CheckOptions o;
    o.mode = c.mode;
    EXPECT_TRUE(check_layer(*b.layer, random_input(4, in, rng), seed, o)) << c.label << " seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllLayers, LayerGradient,
    ::testing::Values(Case{"dense", nn::dense(3, Init::GlorotNormal)},
                      Case{"dense_nobias", nn::dense(3, Init::HeUniform, false)},
                      Case{"identity", nn::identity()}, Case{"sigmoid", nn::sigmoid()},
                      Case{"tanh", nn::tanh()}, Case{"relu", nn::relu()},
                      Case{"leaky_relu", nn::leaky_relu()},
                      Case{"leaky_relu_02", nn::leaky_relu(0.2f)},
                      Case{"rrelu_train", nn::rrelu(), Mode::Train},
                      Case{"rrelu_eval", nn::rrelu(), Mode::Eval},
                      Case{"prelu_shared", nn::prelu(false)},
                      Case{"prelu_per_unit", nn::prelu(true)}, Case{"elu", nn::elu()},
                      Case{"elu_alpha", nn::elu(0.7f)}, Case{"selu", nn::selu()},
                      Case{"softmax", nn::softmax()},
                      Case{"batchnorm_train", nn::batch_norm(), Mode::Train},
                      Case{"batchnorm_eval", nn::batch_norm(), Mode::Eval},
                      Case{"dropout_train", nn::dropout(0.3f), Mode::Train},
                      Case{"dropout_eval", nn::dropout(0.3f), Mode::Eval}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(LossGradient, CrossEntropy) {
  Rng rng(3);
  Tensor z = random_input(5, 4, rng, 0.0f, 3.0f);
  Tensor y(5, 1);
  for (std::size_t r = 0; r < 5; ++r) y(r, 0) = static_cast<float>(r % 4);
  EXPECT_TRUE(check_loss(Loss(LossKind::CrossEntropy), z, y));
}

TEST(LossGradient, BinaryCrossEntropyOnValuesAndLabels) {
  Rng rng(4);
  Tensor z = random_input(5, 3, rng, 0.0f, 3.0f);
  Tensor t(5, 3);
  for (float& v : t.span()) v = rng.uniform();
  EXPECT_TRUE(check_loss(Loss(LossKind::BinaryCrossEntropy), z, t));
  Tensor labels(5, 1);
  for (std::size_t r = 0; r < 5; ++r) labels(r, 0) = static_cast<float>(r % 3);
  EXPECT_TRUE(check_loss(Loss(LossKind::BinaryCrossEntropy), z, labels));
}

TEST(LossGradient, MeanSquaredError) {
  Rng rng(5);
  Tensor z = random_input(5, 3, rng, 0.0f, 3.0f);
  Tensor t = random_input(5, 3, rng, 0.0f, 3.0f);
  EXPECT_TRUE(check_loss(Loss(LossKind::MeanSquaredError), z, t));
}

// A whole network: every layer kind stacked, gradients w.r.t. the input and all parameters.
TEST(ModelGradient, DeepStackMatchesFiniteDifferences) {
  Sequential net(4, {nn::dense(6), nn::tanh(), nn::dense(6), nn::elu(), nn::dense(5), nn::prelu(true),
                     nn::dense(5), nn::selu(), nn::dense(4), nn::leaky_relu(0.1f), nn::dense(3),
                     nn::softmax()},
                 11);
  Rng rng(12);
  Tensor x = random_input(3, 4, rng);
  Tensor r(3, 3);
  for (float& v : r.span()) v = rng.uniform(-1, 1);
  auto objective = [&] {
    const Tensor& y = net.forward(x, Mode::Train);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
    return s;
  };
  objective();
  Tensor dx;
  net.backward(r, Sequential::kAll, &dx);
  const Tensor grads = net.gradients();
  // A smaller step than for single layers: a perturbation travels through four kinked
  // activations, and ε = 1e-2 can push a pre-activation across a kink.
  const float eps = 1e-3f;
  const testing::CheckOptions o;
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_TRUE(testing::compare("dx", i, dx[i], testing::central_difference(x[i], objective, eps), o));
  Tensor& p = net.parameters();
  for (std::size_t i = 0; i < p.size(); ++i)
    ASSERT_TRUE(testing::compare("dθ", i, grads[i], testing::central_difference(p[i], objective, eps), o));
}

// ---- the checker itself must catch wrong backward passes ----

// Tanh whose backward is 10% too large.
class ScaledTanh final : public Activation {
 public:
  explicit ScaledTanh(std::size_t n) : Activation(nn::tanh(), n) {}

 protected:
  void evaluate_impl(const Tensor& x, Tensor& y) const override {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::tanh(x[i]);
  }
  void backward_impl(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx, bool) override {
    for (std::size_t i = 0; i < y.size(); ++i) (*dx)[i] = 1.1f * dy[i] * (1 - y[i] * y[i]);
  }
};

// Softmax whose backward drops the −Σ dy·y term (treats the Jacobian as diagonal).
class DiagonalSoftmax final : public Activation {
 public:
  explicit DiagonalSoftmax(std::size_t n) : Activation(nn::softmax(), n), inner_(nn::softmax(), n) {}

 protected:
  void evaluate_impl(const Tensor& x, Tensor& y) const override { inner_.evaluate(x, y); }
  void backward_impl(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx, bool) override {
    for (std::size_t i = 0; i < y.size(); ++i) (*dx)[i] = dy[i] * y[i];
  }
  Softmax inner_;
};

// Dense that forgets the bias gradient (leaves whatever was there).
class DenseWithoutBiasGrad final : public Layer {
 public:
  DenseWithoutBiasGrad(std::size_t in, std::size_t out)
      : Layer(nn::dense(out, Init::GlorotNormal), in, out), inner_(nn::dense(out, Init::GlorotNormal), in) {}
  std::vector<ParamShape> param_shapes() const override { return inner_.param_shapes(); }
  void init(Rng& rng) override {
    inner_.bind(params_[0].data(), grads_[0].data());
    inner_.init(rng);
  }

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode m, Rng& r) override { inner_.forward(x, y, m, r); }
  void evaluate_impl(const Tensor& x, Tensor& y) const override { inner_.evaluate(x, y); }
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, bool) override {
    const float keep = grads_[1][0];
    inner_.backward(x, y, dy, dx);
    grads_[1].fill(keep);
  }
  Dense inner_;
};

TEST(GradCheckCatches, BackwardOffByTenPercent) {
  Rng rng(1);
  ScaledTanh bad(5);
  EXPECT_FALSE(check_layer(bad, random_input(4, 5, rng)));
}

TEST(GradCheckCatches, DroppedTermInSoftmax) {
  Rng rng(2);
  DiagonalSoftmax bad(5);
  EXPECT_FALSE(check_layer(bad, random_input(4, 5, rng)));
}

TEST(GradCheckCatches, MissingParameterGradient) {
  Rng rng(3);
  BoundLayer b(std::make_unique<DenseWithoutBiasGrad>(4, 3));
  EXPECT_FALSE(check_layer(*b.layer, random_input(4, 4, rng)));
}

}  // namespace
}  // namespace gradflow
