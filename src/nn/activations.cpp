#include "gradflow/activations.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/parallel.h"
#include "core/vmath.h"
#include "nn/pointwise.h"

namespace gradflow {

namespace {
// Apply y[i] = f(x[i]) over a whole tensor; a plain loop the compiler vectorizes.
template <class F>
void map(const Tensor& x, Tensor& y, F f) {
  const float* a = x.data();
  float* b = y.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) b[i] = f(a[i]);
}
// dx[i] = g(dy[i], x[i], y[i]).
template <class G>
void map_grad(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, G g) {
  const float* a = x.data();
  const float* b = y.data();
  const float* d = dy.data();
  float* out = dx.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) out[i] = g(d[i], a[i], b[i]);
}
}  // namespace

void PointwiseActivation::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) {
  parallel::for_range(in_, parallel::kElementCost * static_cast<double>(x.rows()),
                      [&](parallel::Range c) { pointwise::forward(spec_, x, y, c.begin, c.end); });
}
void PointwiseActivation::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy,
                                        Tensor* dx, bool) {
  if (!dx) return;
  parallel::for_range(in_, parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    pointwise::backward(spec_, x, y, dy, *dx, c.begin, c.end);
  });
}

// ---- RReLU ----
void RReLU::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  if (mode == Mode::Eval) {
    const float s = 0.5f * (spec_.lower + spec_.upper);
    map(x, y, [s](float v) { return v >= 0.0f ? v : v * s; });
    slope_.resize(0, 0);  // backward then uses the fixed slope
    return;
  }
  // Only elements that are negative consume a random number, as in PyTorch's
  // rrelu_with_noise; the slopes are kept for backward.
  slope_.resize(x.rows(), x.cols());
  const float lo = spec_.lower, hi = spec_.upper;
  const std::size_t n = x.size();
  const float* a = x.data();
  float* b = y.data();
  float* r = slope_.data();
  for (std::size_t i = 0; i < n; ++i) {
    r[i] = a[i] >= 0.0f ? 1.0f : rng.uniform(lo, hi);
    b[i] = a[i] * r[i];
  }
}
void RReLU::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  if (slope_.size() == x.size()) {
    // After a training forward: the per-element slopes that were used.
    const float* r = slope_.data();
    const float* d = dy.data();
    float* out = dx->data();
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = d[i] * r[i];
  } else {
    const float s = 0.5f * (spec_.lower + spec_.upper);
    map_grad(x, y, dy, *dx, [s](float d, float v, float) { return v >= 0.0f ? d : d * s; });
  }
}

// ---- PReLU ----
std::vector<ParamShape> PReLU::param_shapes() const {
  return {{"weight", 1, spec_.per_unit ? in_ : 1, true}};
}
void PReLU::init(Rng&) { params_[0].fill(spec_.init_slope); }
void PReLU::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) {
  const float* a = params_[0].data();
  const std::size_t step = spec_.per_unit ? 1 : 0;
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (std::size_t j = 0; j < in_; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : a[j * step] * xr[j];
  }
}
void PReLU::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  const float* a = params_[0].data();
  const std::size_t step = spec_.per_unit ? 1 : 0;
  if (dx) {
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* xr = x.row(r);
      const float* dr = dy.row(r);
      float* out = dx->row(r);
      for (std::size_t j = 0; j < in_; ++j) out[j] = xr[j] > 0.0f ? dr[j] : a[j * step] * dr[j];
    }
  }
  if (param_grads) {
    float* da = grads_[0].data();
    grads_[0].zero();
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* xr = x.row(r);
      const float* dr = dy.row(r);
      for (std::size_t j = 0; j < in_; ++j) da[j * step] += xr[j] > 0.0f ? 0.0f : xr[j] * dr[j];
    }
  }
}

// ---- Softmax ----
void Softmax::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) {
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    const float m = *std::max_element(xr, xr + in_);
    for (std::size_t j = 0; j < in_; ++j) yr[j] = xr[j] - m;
    vmath::exp(yr, yr, in_);
    float sum = 0.0f;
    for (std::size_t j = 0; j < in_; ++j) sum += yr[j];
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < in_; ++j) yr[j] *= inv;
  }
}
void Softmax::backward_impl(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  for (std::size_t r = 0; r < y.rows(); ++r) {
    const float* yr = y.row(r);
    const float* dr = dy.row(r);
    float* out = dx->row(r);
    float dot = 0.0f;
    for (std::size_t j = 0; j < in_; ++j) dot += dr[j] * yr[j];
    for (std::size_t j = 0; j < in_; ++j) out[j] = yr[j] * (dr[j] - dot);
  }
}

}  // namespace gradflow
