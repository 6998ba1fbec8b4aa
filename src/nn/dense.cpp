#include "gradflow/dense.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/blas.h"
#include "core/finite.h"
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
  forward_with(x, y, nullptr, nullptr, nullptr, nullptr, scratch_);
}

std::optional<bool> Dense::gradients_finite() const {
  if (!grads_checked_) return std::nullopt;
  return !non_finite_grads_.load(std::memory_order_relaxed);
}

void Dense::evaluate_impl(const Tensor& x, Tensor& y) const {
  Scratch scratch;
  forward_with(x, y, nullptr, nullptr, nullptr, nullptr, scratch);
}

void Dense::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  backward_with(x, Tensor(), nullptr, nullptr, dy, nullptr, dx, param_grads);
}

void Dense::check_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt) const {
  check_input(x);
  if (xt && (xt->rows() != in_ || xt->cols() != x.rows()))
    throw std::invalid_argument(fmt::format("{}: transposed input has shape {}, expected [{}, {}]",
                                            name(), xt->shape_str(), in_, x.rows()));
  z.resize(x.rows(), out_);
  if (act) a->resize(x.rows(), out_);
}

void Dense::forward_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a,
                          const Tensor* xt, Tensor* at) {
  check_fused(x, z, act, a, xt);
  forward_with(x, z, act, act ? a : nullptr, xt, at, scratch_);
}

void Dense::evaluate_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt, Tensor* at,
                           Scratch& scratch) const {
  check_fused(x, z, act, a, xt);
  forward_with(x, z, act, act ? a : nullptr, xt, at, scratch);
}

void Dense::backward_fused(const Tensor& x, const Tensor& z, const LayerSpec& act,
                           const Tensor& a, const Tensor& da, Tensor& dz, Tensor* dx) {
  check_output_grad(x, da);
  dz.resize(x.rows(), out_);
  if (dx) dx->resize(x.rows(), in_);
  backward_with(x, z, &act, &a, da, &dz, dx, trainable_);
}

// Every product runs in a grid of tiles fixed by the shapes (parallel::Grid), which makes the
// result independent of the thread count; a tile is one product call, and what belongs to its
// part of the output (bias, activation, their gradients) is done with it, while it is in cache.
// Up to 16 tiles where the work is worth it, cut where a cut costs least on one core (oneDNN's
// AVX-512 sgemm on Zen 5, docs/history/performance-log.md "Tiles"): the transposed forward's units (rows of
// Zᵀ) down to 16 (32-unit tiles: 96% of the whole product's rate); the plain forward's columns
// in blocks of ≈128 units and its batch rows down to 64 (94%; 32 rows would be 83%); dW's units
// down to 16 (99%; its columns cut would cost 5%); dx's features in blocks of ≈128 and its
// batch rows down to 32 (98%).
namespace {
constexpr std::size_t kForwardRows = 64, kTransposedUnits = 16, kWeightGradUnits = 16, kInputGradRows = 32;
}  // namespace

void Dense::forward_with(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a,
                         const Tensor* xt, Tensor* at, Scratch& scratch) const {
  const std::size_t B = x.rows();
  const float* w = params_[0].data();
  const float* b = spec_.dense().bias ? params_[1].data() : nullptr;
  // Per unit: 2·B·I FLOPs, and a row of I weights to stream from memory, which is what a batch
  // of one is bound by (≈ 100 GB/s from L2 here: a 784→256 layer takes 7.5 µs on one core).
  const double work = (2.0 * parallel::kProductFlop * static_cast<double>(B) + kWeightCost) *
                      static_cast<double>(in_ * out_);
  if (!blas::transposed_forward(B)) {
    if (at) at->resize(0, 0);
  } else {
    forward_transposed(x, z, act, a, xt, at, work, scratch);
    return;
  }
  // Threads split the larger operand between them: W (out × in) when out ≥ B, taking the tiles
  // column by column — whole units, the units whose rows of W each updates (param_slices.h;
  // sharing W's lines between the cores' caches cost the update 2× at batch 512) —, else X
  // (B × in) row by row: batch-1024 inference 690k samples/s against 600k column by column.
  parallel::Grid g = parallel::cut_rows(B, out_, parallel::tiles_for(work), kForwardRows);
  g.by_cols = out_ >= B;
  parallel::for_tiles(g, work / static_cast<double>(g.count()), [&](parallel::Range r, parallel::Range u) {
    // Broadcast b into z, then let the product accumulate onto it (beta = 1): the bias costs
    // one write pass instead of a separate read-modify-write pass after the product.
    for (std::size_t i = r.begin; i < r.end; ++i) {
      float* zr = z.row(i) + u.begin;
      if (b)
        std::memcpy(zr, b + u.begin, u.size() * sizeof(float));
      else
        std::fill(zr, zr + u.size(), 0.0f);
    }
    if (B == 1)
      blas::gemv_rows(u.size(), in_, w + u.begin * in_, in_, x.data(), z.data() + u.begin);
    else
      blas::gemm(false, true, r.size(), u.size(), in_, 1.0f, x.row(r.begin), in_, w + u.begin * in_, in_, 1.0f,
                 z.row(r.begin) + u.begin, out_);
    if (act) pointwise::forward(*act, z, *a, r, u);
  });
}

// Zᵀ = W·Xᵀ (blas::transposed_forward), in tiles of units (Zᵀ's rows) with the whole batch.
void Dense::forward_transposed(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt,
                               Tensor* at, double work, Scratch& scratch) const {
  const std::size_t B = x.rows();
  const float* w = params_[0].data();
  const float* b = spec_.dense().bias ? params_[1].data() : nullptr;
  Tensor& zt = scratch.zt;
  zt.resize(out_, B);
  const Tensor& y = act ? *a : z;
  if (at) at->resize(out_, B);
  // Without xᵀ from the Dense before, each thread transposes all of x for itself, in the
  // product's region: a separate region, each thread transposing its share of rows, was as
  // fast on a quiet machine but 10% slower a forward when the cores' caches are far apart
  // (docs/history/performance-log.md, "Small products").
  scratch.xts.resize(static_cast<std::size_t>(parallel::threads()));
  const parallel::Grid g{out_, B, parallel::cut(out_, parallel::tiles_for(work), kTransposedUnits), std::max<std::size_t>(B, 1)};
  const bool small = blas::small_products(B);
  const int parts = parallel::parts_for(g, work / static_cast<double>(g.count()));
  parallel::for_tile_runs(g, parts, false, [&](int t, parallel::Range run) {
    const float* xtd = xt ? xt->data() : nullptr;
    if (!xt) {
      Tensor& mine = scratch.xts[static_cast<std::size_t>(t)];
      mine.resize(in_, B);
      blas::transpose(B, in_, x.data(), in_, mine.data(), B, /*rows_first=*/true);
      xtd = mine.data();
    }
    for (std::size_t i = run.begin; i < run.end; ++i) {
      const parallel::Range u = g.rows(i);
      // zᵀ's rows start as the bias, and the product accumulates onto them (as above).
      for (std::size_t j = u.begin; j < u.end; ++j) std::fill(zt.row(j), zt.row(j) + B, b ? b[j] : 0.0f);
      if (small)
        blas::gemm_small(false, u.size(), B, in_, w + u.begin * in_, in_, xtd, B, 1.0f, zt.row(u.begin), B);
      else
        blas::gemm(false, false, u.size(), B, in_, 1.0f, w + u.begin * in_, in_, xtd, B, 1.0f, zt.row(u.begin), B);
      blas::transpose(u.size(), B, zt.row(u.begin), B, z.data() + u.begin, out_);
      if (act) pointwise::forward(*act, z, *a, {0, B}, u);
      if (at) blas::transpose(B, u.size(), y.data() + u.begin, out_, at->row(u.begin), B);
    }
  });
}

void Dense::backward_with(const Tensor& x, const Tensor& z, const LayerSpec* act, const Tensor* a,
                          const Tensor& dy, Tensor* dz, Tensor* dx, bool param_grads) {
  const std::size_t B = x.rows();
  const Tensor& g = act ? *dz : dy;  // ∂L/∂z
  const bool bias = param_grads && spec_.dense().bias;
  grads_checked_ = param_grads;
  non_finite_grads_.store(false, std::memory_order_relaxed);
  const auto check = [this](const float* v, std::size_t n) {
    if (!all_finite(v, n)) non_finite_grads_.store(true, std::memory_order_relaxed);
  };
  // C = op(A)·B for dW and dx: libxsmm's kernels for the batches whose forward they run, so
  // that the step makes no oneDNN call (blas::gemm_small), else sgemm.
  const auto product = [small = blas::small_products(B)](bool trans_a, std::size_t m, std::size_t n, std::size_t k,
                                                             const float* a, std::size_t lda, const float* b,
                                                             std::size_t ldb, float* c, std::size_t ldc) {
    if (small)
      blas::gemm_small(trans_a, m, n, k, a, lda, b, ldb, 0.0f, c, ldc);
    else
      blas::gemm(trans_a, false, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  };
  // ∂L/∂z and db for units u: what every tile of those units' dW rows (and dx) reads.
  const auto gate = [&](parallel::Range u) {
    if (act) pointwise::backward(*act, z, *a, dy, *dz, {0, B}, u);
    if (!bias) return;
    float* db = grads_[1].data();
    std::memcpy(db + u.begin, g.row(0) + u.begin, u.size() * sizeof(float));
    for (std::size_t r = 1; r < B; ++r) {
      const float* gr = g.row(r);
      for (std::size_t j = u.begin; j < u.end; ++j) db[j] += gr[j];
    }
    check(db + u.begin, u.size());
  };
  const double product_work = 2.0 * parallel::kProductFlop * static_cast<double>(B * in_ * out_);
  if (param_grads) {
    // dW = gᵀ x, rows = units. While every thread owns whole rows of tiles, it gates its own
    // units first (no region of its own, and g stays in the cache of the thread that reads it);
    // with more threads than rows, the gate is a region before.
    const parallel::Grid w{out_, in_, parallel::cut(out_, parallel::tiles_for(product_work), kWeightGradUnits),
                           std::max<std::size_t>(in_, 1)};
    const int parts = parallel::parts_for(w, product_work / static_cast<double>(w.count()));
    const bool whole_rows = parts <= static_cast<int>(w.row_count());
    if (!whole_rows && (act || bias)) parallel::for_blocks(out_, parallel::kElementCost * static_cast<double>(B), gate);
    parallel::for_tile_runs(w, parts, whole_rows, [&](int, parallel::Range run) {
      if (whole_rows && (act || bias))
        gate({w.rows(run.begin).begin, w.rows(run.end - 1).end});
      for (std::size_t i = run.begin; i < run.end; ++i) {
        const parallel::Range u = w.rows(i), f = w.cols(i);
        float* tile = grads_[0].data() + u.begin * in_ + f.begin;
        product(true, u.size(), f.size(), B, g.data() + u.begin, out_, x.data() + f.begin, in_, tile, in_);
        // The finiteness check of the trainer's guard, while the tile is in cache (Layer::gradients_finite).
        for (std::size_t r = 0; r < u.size(); ++r) check(tile + r * in_, f.size());
      }
    });
  } else if (act) {
    parallel::for_blocks(out_, parallel::kElementCost * static_cast<double>(B), gate);
  }
  if (dx) {
    const parallel::Grid d = parallel::cut_rows(B, in_, parallel::tiles_for(product_work), kInputGradRows);
    parallel::for_tiles(d, product_work / static_cast<double>(d.count()), [&](parallel::Range r, parallel::Range f) {
      product(false, r.size(), f.size(), out_, g.row(r.begin), out_, params_[0].data() + f.begin, in_,
              dx->row(r.begin) + f.begin, in_);
    });
  }
}

}  // namespace gradflow
