#include "gradflow/activations.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "core/hash.h"
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

// One row's run of w elements of RReLU's training forward: slope s = 1 for x > 0, else
// lo + width·u with u the element's 24 hash bits / 2²⁴; y = x·s. As in PyTorch's
// rrelu_with_noise, x = 0 takes a slope too (y is 0 either way; the gradient there is the
// slope). Two loops, the draws and then the choice: as one, GCC did not vectorize it.
void rrelu_row(const float* x, float* y, float* s, std::size_t w, std::uint32_t first, std::uint32_t key1,
               std::uint32_t key2, float lo, float width) {
  for (std::size_t j = 0; j < w; ++j)  // through int32 (24 bits fit): int-to-float vectorizes
    s[j] = lo + width * static_cast<float>(static_cast<std::int32_t>(
                            hash::bits24(first + static_cast<std::uint32_t>(j), key1, key2))) * 0x1p-24f;
  for (std::size_t j = 0; j < w; ++j) {
    s[j] = x[j] > 0.0f ? 1.0f : s[j];
    y[j] = x[j] * s[j];
  }
}
}  // namespace

void PointwiseActivation::evaluate_impl(const Tensor& x, Tensor& y) const {
  parallel::for_range(in_, pointwise::forward_cost(spec_) * static_cast<double>(x.rows()),
                      [&](parallel::Range c) { pointwise::forward(spec_, x, y, {0, x.rows()}, c); });
}
void PointwiseActivation::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy,
                                        Tensor* dx, bool) {
  if (!dx) return;
  parallel::for_range(in_, parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    pointwise::backward(spec_, x, y, dy, *dx, {0, x.rows()}, c);
  });
}

// ---- RReLU ----
// PyTorch's evaluation mode: leaky_relu with the mean slope (whose gradient at 0 is the slope).
void RReLU::evaluate_impl(const Tensor& x, Tensor& y) const {
  const float s = 0.5f * (spec_.rrelu().lower + spec_.rrelu().upper);
  map(x, y, [s](float v) { return v > 0.0f ? v : v * s; });
}
void RReLU::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  if (mode == Mode::Eval) {
    evaluate_impl(x, y);
    slope_.resize(0, 0);  // backward then uses the fixed slope
    return;
  }
  // A non-positive element's slope is lower + (upper − lower)·u, u from its 24 hash bits under one
  // key per call (core/hash.h; elements counted from the whole batch's first row, as Dropout
  // does) — PyTorch's rrelu_with_noise draws the same distribution from a stream, which would
  // tie every element to the ones before it (one at a time, one thread). Kept for backward.
  slope_.resize(x.rows(), x.cols());
  const std::uint64_t key = rng.next_u64();
  const auto k1 = static_cast<std::uint32_t>(key), k2 = static_cast<std::uint32_t>(key >> 32);
  const std::size_t F = x.cols();
  // Costed as Dropout's hash is: split in two, a 64×256 batch took 4.6 µs instead of 3.7.
  parallel::for_range(F, 2 * parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    for (std::size_t r = 0; r < x.rows(); ++r)
      rrelu_row(x.row(r) + c.begin, y.row(r) + c.begin, slope_.row(r) + c.begin, c.size(),
                static_cast<std::uint32_t>((first_row_ + r) * F + c.begin), k1, k2, spec_.rrelu().lower, spec_.rrelu().upper - spec_.rrelu().lower);
  });
}
void RReLU::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  if (slope_.size() == x.size()) {
    pointwise::multiply(dy, slope_, *dx);  // the per-element slopes of the training forward
  } else {
    const float s = 0.5f * (spec_.rrelu().lower + spec_.rrelu().upper);
    map_grad(x, y, dy, *dx, [s](float d, float v, float) { return v > 0.0f ? d : d * s; });
  }
}

// ---- PReLU ----
std::vector<ParamShape> PReLU::param_shapes() const {
  return {{"weight", 1, spec_.prelu().per_unit ? in_ : 1, true}};
}
void PReLU::init(Rng&) { params_[0].fill(spec_.prelu().init); }
void PReLU::evaluate_impl(const Tensor& x, Tensor& y) const {
  parallel::for_range(in_, parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    const float* a = params_[0].data();
    const float shared = a[0];
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* xr = x.row(r);
      float* yr = y.row(r);
      if (spec_.prelu().per_unit)
        for (std::size_t j = c.begin; j < c.end; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : a[j] * xr[j];
      else
        for (std::size_t j = c.begin; j < c.end; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : shared * xr[j];
    }
  });
}
// dα is summed per column first, over the rows in order — the same bits for any split of the
// columns between threads — and a shared slope then adds the columns up in order.
void PReLU::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  const bool per_unit = spec_.prelu().per_unit;
  if (param_grads && !per_unit) column_sums_.resize(1, in_);
  float* sums = !param_grads ? nullptr : per_unit ? grads_[0].data() : column_sums_.data();
  parallel::for_range(in_, 2 * parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    const float* a = params_[0].data();
    const float shared = a[0];
    if (dx)
      for (std::size_t r = 0; r < x.rows(); ++r) {
        const float* xr = x.row(r);
        const float* dr = dy.row(r);
        float* out = dx->row(r);
        if (per_unit)
          for (std::size_t j = c.begin; j < c.end; ++j) out[j] = xr[j] > 0.0f ? dr[j] : a[j] * dr[j];
        else
          for (std::size_t j = c.begin; j < c.end; ++j) out[j] = xr[j] > 0.0f ? dr[j] : shared * dr[j];
      }
    if (!sums) return;
    std::fill(sums + c.begin, sums + c.end, 0.0f);
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* xr = x.row(r);
      const float* dr = dy.row(r);
      for (std::size_t j = c.begin; j < c.end; ++j) sums[j] += xr[j] > 0.0f ? 0.0f : xr[j] * dr[j];
    }
  });
  if (param_grads && !per_unit) {
    float total = 0.0f;
    for (std::size_t j = 0; j < in_; ++j) total += column_sums_[j];
    grads_[0][0] = total;
  }
}

// ---- Softmax ----
void Softmax::evaluate_impl(const Tensor& x, Tensor& y) const {
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
