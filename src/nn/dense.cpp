#include "gradflow/dense.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/blas.h"
#include "core/transpose.h"
#include "core/parallel.h"
#include "nn/pointwise.h"

namespace gradflow {

namespace {
// The time to stream one weight from L2, in parallel.h's cost units.
constexpr double kWeightCost = 8;
}  // namespace

std::string Dense::name() const { return fmt::format("Dense({}→{})", in_, out_); }

Dense::Dense(const LayerSpec& spec, std::size_t in_features)
    : Layer(spec, in_features, spec.dense().units) {
  if (spec.dense().units == 0 || in_features == 0)
    throw std::invalid_argument(
        fmt::format("Dense({}→{}): both sizes must be positive", in_features, spec.dense().units));
}

std::vector<ParamShape> Dense::param_shapes() const {
  std::vector<ParamShape> s{{"weight", out_, in_}};
  if (spec_.dense().bias) s.push_back({"bias", 1, out_, true});
  return s;
}

void Dense::init(Rng& rng) {
  init_weights(weight(), spec_.dense().init == Init::Default ? Init::GlorotUniform : spec_.dense().init, rng);
  if (spec_.dense().bias) params_[1].zero();
}

void Dense::forward_impl(const Tensor& x, Tensor& y, Mode, Rng&) {
  forward_with(x, y, nullptr, nullptr, nullptr, nullptr);
}

void Dense::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  backward_with(x, Tensor(), nullptr, nullptr, dy, nullptr, dx, param_grads);
}

void Dense::forward_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a,
                          const Tensor* xt, Tensor* at) {
  check_input(x);
  if (xt && (xt->rows() != in_ || xt->cols() != x.rows()))
    throw std::invalid_argument(fmt::format("{}: transposed input has shape {}, expected [{}, {}]",
                                            name(), xt->shape_str(), in_, x.rows()));
  z.resize(x.rows(), out_);
  if (act) a->resize(x.rows(), out_);
  forward_with(x, z, act, act ? a : nullptr, xt, at);
}

void Dense::backward_fused(const Tensor& x, const Tensor& z, const LayerSpec& act,
                           const Tensor& a, const Tensor& da, Tensor& dz, Tensor* dx) {
  check_output_grad(x, da);
  dz.resize(x.rows(), out_);
  if (dx) dx->resize(x.rows(), in_);
  backward_with(x, z, &act, &a, da, &dz, dx, trainable_);
}

// Every step below runs over the fixed blocks of the output units (parallel::for_blocks, which
// makes the result independent of the thread count), and a thread owns the same blocks in each:
// it computes those columns of z (and of a), later their gradient, db and the rows of dW, so
// those values stay in its cache. Only dx = dz W needs all of dz; it runs as a second region
// over blocks of the input features.
void Dense::forward_with(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a,
                         const Tensor* xt, Tensor* at) {
  const std::size_t B = x.rows();
  const float* w = params_[0].data();
  const float* b = spec_.dense().bias ? params_[1].data() : nullptr;
  // Per unit: 2·B·I FLOPs, and a row of I weights to stream from memory, which is what a batch
  // of one is bound by (≈ 100 GB/s from L2 here: a 784→256 layer takes 7.5 µs on one core).
  const double per_unit = (2.0 * parallel::kProductFlop * static_cast<double>(B) + kWeightCost) *
                          static_cast<double>(in_);
  if (!blas::transposed_forward(B)) {
    if (at) at->resize(0, 0);
  } else {
    zt_.resize(out_, B);
    const Tensor& y = act ? *a : z;
    if (at) at->resize(out_, B);
    // Without xᵀ from the Dense before, each thread transposes all of x for itself, in the
    // product's region: a separate region, each thread transposing its share of rows, was as
    // fast on a quiet machine but 10% slower a forward when the cores' caches are far apart
    // (docs/performance.md, "Small products").
    xts_.resize(static_cast<std::size_t>(parallel::threads()));
    parallel::for_block_runs(out_, per_unit, [&](int t, parallel::Range run) {
      const float* xtd = xt ? xt->data() : nullptr;
      if (!xt) {
        Tensor& mine = xts_[static_cast<std::size_t>(t)];
        mine.resize(in_, B);
        blas::transpose(B, in_, x.data(), in_, mine.data(), B);
        xtd = mine.data();
      }
      for (std::size_t i = run.begin; i < run.end; ++i) {
        const parallel::Range u = parallel::block(out_, i);
        // zᵀ's rows start as the bias, and the product accumulates onto them (as below).
        for (std::size_t j = u.begin; j < u.end; ++j) std::fill(zt_.row(j), zt_.row(j) + B, b ? b[j] : 0.0f);
        blas::gemm_small(false, u.size(), B, in_, w + u.begin * in_, in_, xtd, B, 1.0f, zt_.row(u.begin), B);
        blas::transpose(u.size(), B, zt_.row(u.begin), B, z.data() + u.begin, out_);
        if (act) pointwise::forward(*act, z, *a, u.begin, u.end);
        if (at) blas::transpose(B, u.size(), y.data() + u.begin, out_, at->row(u.begin), B);
      }
    });
    return;
  }
  parallel::for_blocks(out_, per_unit, [&](parallel::Range u) {
    // Broadcast b into z, then let the product accumulate onto it (beta = 1): the bias costs
    // one write pass instead of a separate read-modify-write pass after the product.
    for (std::size_t r = 0; r < B; ++r) {
      float* zr = z.row(r) + u.begin;
      if (b)
        std::memcpy(zr, b + u.begin, u.size() * sizeof(float));
      else
        std::fill(zr, zr + u.size(), 0.0f);
    }
    if (B == 1)
      blas::gemv_rows(u.size(), in_, w + u.begin * in_, in_, x.data(), z.data() + u.begin);
    else
      blas::gemm(false, true, B, u.size(), in_, 1.0f, x.data(), in_, w + u.begin * in_, in_, 1.0f,
                 z.data() + u.begin, out_);
    if (act) pointwise::forward(*act, z, *a, u.begin, u.end);
  });
}

void Dense::backward_with(const Tensor& x, const Tensor& z, const LayerSpec* act, const Tensor* a,
                          const Tensor& dy, Tensor* dz, Tensor* dx, bool param_grads) {
  const std::size_t B = x.rows();
  const Tensor& g = act ? *dz : dy;  // ∂L/∂z
  // C = op(A)·B for dW and dx: libxsmm's kernels for the batches whose forward they run, so
  // that the step makes no oneDNN call (blas::gemm_small), else sgemm.
  const auto product = [small = blas::transposed_forward(B)](bool trans_a, std::size_t m, std::size_t n, std::size_t k,
                                                             const float* a, std::size_t lda, const float* b,
                                                             std::size_t ldb, float* c, std::size_t ldc) {
    if (small)
      blas::gemm_small(trans_a, m, n, k, a, lda, b, ldb, 0.0f, c, ldc);
    else
      blas::gemm(trans_a, false, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  };
  if (act || param_grads) {
    const double cost = param_grads ? 2.0 * parallel::kProductFlop * static_cast<double>(B * in_)
                                    : parallel::kElementCost * static_cast<double>(B);
    parallel::for_blocks(out_, cost, [&](parallel::Range u) {
      if (act) pointwise::backward(*act, z, *a, dy, *dz, u.begin, u.end);
      if (!param_grads) return;
      product(true, u.size(), in_, B, g.data() + u.begin, out_, x.data(), in_, grads_[0].data() + u.begin * in_, in_);
      if (spec_.dense().bias) {
        float* db = grads_[1].data();
        std::memcpy(db + u.begin, g.row(0) + u.begin, u.size() * sizeof(float));
        for (std::size_t r = 1; r < B; ++r) {
          const float* gr = g.row(r);
          for (std::size_t j = u.begin; j < u.end; ++j) db[j] += gr[j];
        }
      }
    });
  }
  if (dx)
    parallel::for_blocks(in_, 2.0 * parallel::kProductFlop * static_cast<double>(B * out_), [&](parallel::Range f) {
      product(false, B, f.size(), out_, g.data(), out_, params_[0].data() + f.begin, in_, dx->data() + f.begin, in_);
    });
}

}  // namespace gradflow
