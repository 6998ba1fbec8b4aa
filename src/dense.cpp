#include "gradflow/dense.h"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "blas.h"

namespace gradflow {

Dense::Dense(const LayerSpec& spec, std::size_t in_features)
    : Layer(spec, in_features, spec.units) {
  if (spec.units == 0 || in_features == 0)
    throw std::invalid_argument(
        fmt::format("Dense({}→{}): both sizes must be positive", in_features, spec.units));
}

std::vector<ParamShape> Dense::param_shapes() const {
  std::vector<ParamShape> s{{"weight", out_, in_}};
  if (spec_.bias) s.push_back({"bias", 1, out_, true});
  return s;
}

void Dense::init(Rng& rng) {
  init_weights(weight(), spec_.init == Init::Default ? Init::GlorotUniform : spec_.init, rng);
  if (spec_.bias) params_[1].zero();
}

void Dense::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) {
  const std::size_t B = x.rows();
  float beta = 0.0f;
  if (spec_.bias) {
    // Broadcast b into y, then let sgemm accumulate onto it (beta = 1): the bias costs one
    // write pass instead of a separate read-modify-write pass after the product.
    const float* b = params_[1].data();
    for (std::size_t r = 0; r < B; ++r) std::memcpy(y.row(r), b, out_ * sizeof(float));
    beta = 1.0f;
  }
  blas::gemm(false, true, B, out_, in_, 1.0f, x.data(), in_, params_[0].data(), in_, beta,
             y.data(), out_);
}

void Dense::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  const std::size_t B = x.rows();
  if (param_grads) {
    blas::gemm(true, false, out_, in_, B, 1.0f, dy.data(), out_, x.data(), in_, 0.0f,
               grads_[0].data(), in_);
    if (spec_.bias) {
      float* db = grads_[1].data();
      std::memcpy(db, dy.row(0), out_ * sizeof(float));
      for (std::size_t r = 1; r < B; ++r) {
        const float* g = dy.row(r);
        for (std::size_t j = 0; j < out_; ++j) db[j] += g[j];
      }
    }
  }
  if (dx)
    blas::gemm(false, false, B, in_, out_, 1.0f, dy.data(), out_, params_[0].data(), in_, 0.0f,
               dx->data(), in_);
}

}  // namespace gradflow
