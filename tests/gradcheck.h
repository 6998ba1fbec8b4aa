// The one finite-difference checker every layer, activation and loss is tested with.
//
// For a layer y = f(x; θ) it takes the scalar L = Σ y ⊙ r with a random r, and compares the
// backward pass (dy = r) with central differences (L(v + ε) − L(v − ε)) / 2ε for every element
// v of x and of θ, accumulating L in double. A mismatch beyond atol + rtol·|analytic| fails.
// Parameter gradients are pre-filled with NaN, so a backward that accumulates into (or forgets)
// a gradient instead of assigning it fails too. Training noise is replayed exactly by handing
// every forward a copy of the same Rng.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gradflow/gradflow.h"

namespace gradflow::testing {

struct CheckOptions {
  double eps = 1e-2;
  double rtol = 1e-2;
  double atol = 1e-3;
  Mode mode = Mode::Train;
};

// A layer with its own parameter storage, for testing a layer outside a Sequential.
struct BoundLayer {
  std::unique_ptr<Layer> layer;
  std::vector<float> values, grads;
  explicit BoundLayer(std::unique_ptr<Layer> l, std::uint64_t seed = 1) : layer(std::move(l)) {
    values.assign(layer->num_params(), 0.0f);
    grads.assign(layer->num_params(), 0.0f);
    layer->bind(values.data(), grads.data());
    Rng rng(seed);
    layer->init(rng);
  }
};

// x uniform in ±[lo, hi]: away from 0, where the ReLU family has its kink.
inline Tensor random_input(std::size_t rows, std::size_t cols, Rng& rng, float lo = 0.1f,
                           float hi = 2.0f) {
  Tensor x(rows, cols);
  for (float& v : x.span()) v = (rng.uniform() < 0.5f ? -1.0f : 1.0f) * rng.uniform(lo, hi);
  return x;
}

inline ::testing::AssertionResult compare(const std::string& what, std::size_t i, double analytic,
                                          double numeric, const CheckOptions& o) {
  if (std::isfinite(analytic) && std::fabs(analytic - numeric) <= o.atol + o.rtol * std::fabs(analytic))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << "[" << i << "]: backward gives " << analytic
                                       << ", finite differences give " << numeric;
}

// (f(v + ε) − f(v − ε)) / 2ε, restoring v.
template <class F>
double central_difference(float& v, F&& f, double eps) {
  const float keep = v;
  v = keep + static_cast<float>(eps);
  const double up = f();
  v = keep - static_cast<float>(eps);
  const double down = f();
  v = keep;
  return (up - down) / (2 * eps);
}

inline ::testing::AssertionResult check_layer(Layer& layer, Tensor x, std::uint64_t seed = 7,
                                              CheckOptions o = {}) {
  const Rng noise(seed);
  Rng rrand(seed + 1);
  Tensor y;
  {
    Rng r = noise;
    layer.forward(x, y, o.mode, r);
  }
  Tensor weight(y.rows(), y.cols());
  for (float& v : weight.span()) v = rrand.uniform(-1.0f, 1.0f);
  auto objective = [&]() {
    Tensor out;
    Rng r = noise;
    layer.forward(x, out, o.mode, r);
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * weight[i];
    return s;
  };
  for (Tensor& g : layer.grads()) g.fill(std::numeric_limits<float>::quiet_NaN());
  {
    Tensor y2;
    Rng r = noise;
    layer.forward(x, y2, o.mode, r);
    Tensor dx;
    layer.backward(x, y2, weight, &dx);
    for (std::size_t i = 0; i < x.size(); ++i) {
      auto r = compare(layer.name() + " dx", i, dx[i], central_difference(x[i], objective, o.eps), o);
      if (!r) return r;
    }
  }
  for (std::size_t p = 0; p < layer.params().size(); ++p) {
    Tensor& theta = layer.params()[p];
    const Tensor analytic = layer.grads()[p];
    for (std::size_t i = 0; i < theta.size(); ++i) {
      auto r = compare(layer.name() + " d" + layer.param_shapes()[p].name, i, analytic[i],
                       central_difference(theta[i], objective, o.eps), o);
      if (!r) return r;
    }
  }
  return ::testing::AssertionSuccess();
}

// Loss gradient ∂ℓ/∂z against central differences of ℓ.
inline ::testing::AssertionResult check_loss(const Loss& loss, Tensor z, const Tensor& target,
                                             CheckOptions o = {}) {
  Tensor dz;
  loss.forward_backward(z, target, &dz);
  for (std::size_t i = 0; i < z.size(); ++i) {
    auto r = compare(std::string(loss.name()) + " dz", i, dz[i],
                     central_difference(z[i], [&] { return loss.forward(z, target); }, o.eps), o);
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gradflow::testing
