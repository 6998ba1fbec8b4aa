#include "gradflow/activations.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "parallel.h"
#include "pointwise.h"

namespace gradflow {

namespace {
// The point-wise activations as pairs f(x) and dx = g(dy, x, y).
struct IdentityOp {
  float f(float v) const { return v; }
  float g(float d, float, float) const { return d; }
};
struct SigmoidOp {
  float f(float v) const { return 1.0f / (1.0f + std::exp(-v)); }
  float g(float d, float, float s) const { return d * s * (1.0f - s); }
};
struct TanhOp {
  float f(float v) const { return std::tanh(v); }
  float g(float d, float, float t) const { return d * (1.0f - t * t); }
};
struct ReluOp {
  float f(float v) const { return v > 0.0f ? v : 0.0f; }
  // Gate on the output, as PyTorch's threshold_backward does: y > 0 exactly when x > 0.
  float g(float d, float, float r) const { return r > 0.0f ? d : 0.0f; }
};
struct LeakyReluOp {
  float s;
  float f(float v) const { return v > 0.0f ? v : v * s; }
  float g(float d, float v, float) const { return v > 0.0f ? d : d * s; }
};
struct EluOp {
  float alpha;
  float f(float v) const { return v > 0.0f ? v : alpha * std::expm1(v); }
  float g(float d, float v, float e) const { return v > 0.0f ? d : d * (e + alpha); }
};
struct SeluOp {
  float scale = static_cast<float>(kSeluScale);
  float sa = static_cast<float>(kSeluScale * kSeluAlpha);
  float f(float v) const { return v > 0.0f ? scale * v : sa * std::expm1(v); }
  float g(float d, float v, float s) const { return v > 0.0f ? d * scale : d * (s + sa); }
};

// Calls fn(op) with the op of a point-wise activation.
template <class Fn>
void with_op(const LayerSpec& s, Fn fn) {
  switch (s.kind) {
    case LayerKind::Identity: return fn(IdentityOp{});
    case LayerKind::Sigmoid: return fn(SigmoidOp{});
    case LayerKind::Tanh: return fn(TanhOp{});
    case LayerKind::ReLU: return fn(ReluOp{});
    case LayerKind::LeakyReLU: return fn(LeakyReluOp{s.negative_slope});
    case LayerKind::ELU: return fn(EluOp{s.alpha});
    case LayerKind::SELU: return fn(SeluOp{});
    default: throw std::logic_error("pointwise: not a point-wise activation");
  }
}

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

namespace pointwise {
bool is_pointwise(LayerKind k) {
  return k == LayerKind::Identity || k == LayerKind::Sigmoid || k == LayerKind::Tanh ||
         k == LayerKind::ReLU || k == LayerKind::LeakyReLU || k == LayerKind::ELU ||
         k == LayerKind::SELU;
}

void forward(const LayerSpec& act, const Tensor& x, Tensor& y, std::size_t c0, std::size_t c1) {
  with_op(act, [&](auto op) {
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* a = x.row(r);
      float* b = y.row(r);
      for (std::size_t c = c0; c < c1; ++c) b[c] = op.f(a[c]);
    }
  });
}

void backward(const LayerSpec& act, const Tensor& x, const Tensor& y, const Tensor& dy,
              Tensor& dx, std::size_t c0, std::size_t c1) {
  with_op(act, [&](auto op) {
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* a = x.row(r);
      const float* b = y.row(r);
      const float* d = dy.row(r);
      float* out = dx.row(r);
      for (std::size_t c = c0; c < c1; ++c) out[c] = op.g(d[c], a[c], b[c]);
    }
  });
}
}  // namespace pointwise

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
    float sum = 0.0f;
    for (std::size_t j = 0; j < in_; ++j) sum += (yr[j] = std::exp(xr[j] - m));
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
