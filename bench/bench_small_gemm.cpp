// The recipes' matrix products, one library at a time: the calls a training step made (Dense
// forward, weight gradient dW, input gradient dx) in gradflow's fixed column blocks of ≈128 —
// since 2026-12-02 Dense cuts them into the tiles of parallel::Grid instead (docs/history/performance-log.md,
// "Tiles"); the libraries' comparison on these shapes stands —, on 1 or 2 threads through
// gradflow's pool. Built once per library (bench/
// CMakeLists.txt: BENCH_OPENBLAS, BENCH_BLIS, BENCH_XSMM, BENCH_DNNL), since the libraries
// export the same BLAS symbols and cannot share one program. bench/small_gemm runs them all.
//
//   bench_small_gemm_LIB [threads=1] [recipe=relu|bn]
//
// Prints GFLOP/s per product kind and layer, and the step's products in µs. Shapes, row-major
// as gradflow stores them (W is out×in, as PyTorch): forward Z[B×u] = X[B×in]·W_u^T, dW_u[u×in] =
// G_u^T·X, dx[B×f] = G[B×out]·W[:, f] (no dx for the first layer).
#include <algorithm>
#include <cmath>
#include <utility>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/parallel.h"

#if defined(BENCH_OPENBLAS)
#include <cblas.h>
static const char* kLib = "OpenBLAS";
// a: m×k (or k×m when ta), b: k×n (or n×k when tb), row-major.
static void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b,
              ldb, beta, c, ldc);
}
static void init() { openblas_set_num_threads(1); }
#elif defined(BENCH_BLIS)
#include <blis.h>
static const char* kLib = "BLIS";
static void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  float one = 1.0f;
  // BLIS takes any strides: row-major is row stride ld, column stride 1.
  bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &one,
            const_cast<float*>(a), lda, 1, const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1);
}
// BLIS_ARCH_TYPE takes an arch_t number, not a name (a name reads as 0: skx); BENCH_BLIS_ARCH
// names the kernel set and is turned into its number here, before BLIS reads the variable.
static void init() {
  const std::pair<const char*, arch_t> known[] = {{"skx", BLIS_ARCH_SKX},   {"haswell", BLIS_ARCH_HASWELL},
                                                  {"zen3", BLIS_ARCH_ZEN3}, {"zen2", BLIS_ARCH_ZEN2},
                                                  {"zen", BLIS_ARCH_ZEN}};
  if (const char* want = std::getenv("BENCH_BLIS_ARCH"))
    for (const auto& [name, id] : known)
      if (std::string(name) == want) setenv("BLIS_ARCH_TYPE", std::to_string(static_cast<int>(id)).c_str(), 1);
  bli_init();
  std::printf("BLIS kernels: %s\n", bli_arch_string(bli_arch_query_id()));
}
#elif defined(BENCH_DNNL)
#include <oneapi/dnnl/dnnl.h>
static const char* kLib = "oneDNN";
static void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);  // row-major
}
static void init() {}
#elif defined(BENCH_XSMM)
#include <libxsmm.h>
#include <map>
#include <mutex>
#include <tuple>

#include "core/transpose.h"
static const char* kLib = "libxsmm";
// libxsmm is column-major: row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
// operands swap. Kernels are JIT-compiled once per shape (dispatch caches them). As gradflow
// runs them (blas::gemm_small), 64 columns of C at a time.
static void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  const int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
  const float alpha = 1.0f;
  for (int j = 0; j < n; j += 64) {
    const libxsmm_blasint M = std::min(64, n - j), N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
    const libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, nullptr);
    if (!f) {
      std::fprintf(stderr, "libxsmm: no JIT kernel for %s%s m=%d n=%d k=%d\n", ta ? "T" : "N", tb ? "T" : "N", m, n, k);
      std::exit(3);
    }
    f(tb ? b + static_cast<std::ptrdiff_t>(j) * ldb : b + j, a, c + j);
  }
}
static void init() { libxsmm_init(); }
// libxsmm 1.17 has no JIT kernel for the forward's Z = X·Wᵀ (both operands contiguous along the
// sum: a transposed A in its column-major terms). Timed as gradflow runs it (Dense::forward_with,
// blas::transposed_forward): per part of the blocks, the first layer's thread transposes all of X
// for itself (the layers above get Xᵀ from the layer below); per block Z_uᵀ = W_u·Xᵀ (a plain NN
// kernel), transposed back into Z, and — below the last layer — once more into the next layer's
// Xᵀ (here from Z; training transposes the activation).
#define BENCH_FORWARD_VIA_TRANSPOSE 1
static std::vector<std::vector<float>> xts(8);
static std::vector<float> xt_given, zt, at;
// Xᵀ as the layer below hands it over, made once per layer, outside the timing.
static void prepare_layer(int B, int in, const float* x) {
  xt_given.resize(static_cast<std::size_t>(B) * in);
  gradflow::blas::transpose(B, in, x, in, xt_given.data(), B);
}
static void forward(int B, int in, int out, const float* x, const float* w, float* z, bool first, bool last) {
  zt.resize(static_cast<std::size_t>(out) * B);
  at.resize(static_cast<std::size_t>(out) * B);
  gradflow::parallel::for_block_runs(out, 2.0 * gradflow::parallel::kProductFlop * B * in, [&](int t, gradflow::parallel::Range run) {
    const float* xt = xt_given.data();
    if (first) {
      std::vector<float>& mine = xts[static_cast<std::size_t>(t)];
      mine.resize(static_cast<std::size_t>(B) * in);
      gradflow::blas::transpose(B, in, x, in, mine.data(), B);
      xt = mine.data();
    }
    for (std::size_t i = run.begin; i < run.end; ++i) {
      const gradflow::parallel::Range u = gradflow::parallel::block(out, i);
      float* ztu = zt.data() + u.begin * B;
      std::fill(ztu, ztu + u.size() * B, 0.0f);
      const float alpha = 1.0f, beta = 1.0f;
      const int flags = 0;
      const libxsmm_blasint M = B, N = static_cast<libxsmm_blasint>(u.size()), K = in, LDA = B, LDB = in, LDC = B;
      const libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, nullptr);
      f(xt, w + u.begin * in, ztu);
      gradflow::blas::transpose(u.size(), B, ztu, B, z + u.begin, out);
      if (!last) gradflow::blas::transpose(B, u.size(), z + u.begin, out, at.data() + u.begin * B, B);
    }
  });
}
#endif
#if !defined(BENCH_FORWARD_VIA_TRANSPOSE)
static void prepare_layer(int, int, const float*) {}
// Z[B×out] += X·Wᵀ, one call per block.
static void forward(int B, int in, int out, const float* x, const float* w, float* z, bool, bool) {
  gradflow::parallel::for_blocks(out, 2.0 * gradflow::parallel::kProductFlop * B * in, [&](gradflow::parallel::Range u) {
    gemm(false, true, B, int(u.size()), in, x, in, w + u.begin * in, in, 1.0f, z + u.begin, out);
  });
}
#endif

namespace {
using namespace gradflow;
using Clock = std::chrono::steady_clock;

struct Layer {
  int in, out;
};

std::vector<float> random(std::size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
  return v;
}

// Seconds per call of f, the best of 5 rounds of enough calls for ≥ 20 ms.
template <class F>
double time_of(F&& f) {
  f();
  int calls = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) f();
    if (std::chrono::duration<double>(Clock::now() - t0).count() > 0.02) break;
    calls *= 2;
  }
  double best = 1e9;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / calls);
  }
  return best;
}

// What Dense does: parallel::for_blocks over the product's fixed column blocks, with Dense's
// cost per column (2·B·K FLOPs), so a small product uses as many threads as in training.
template <class F>
void blocks(std::size_t n, int B, int k, F&& body) {
  parallel::for_blocks(n, 2.0 * parallel::kProductFlop * B * k, body);
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::string recipe = argc > 2 ? argv[2] : "relu";
  const bool bn = recipe == "bn";
  const int B = bn ? 128 : 64;
  const std::vector<Layer> layers =
      bn ? std::vector<Layer>{{784, 512}, {512, 256}, {256, 10}} : std::vector<Layer>{{784, 256}, {256, 128}, {128, 10}};
  init();
  parallel::set_threads(threads);
  parallel::set_stall_policy(false);
  std::printf("%s, %s recipe (batch %d), %d thread(s)\n", kLib, bn ? "bn" : "relu", B, threads);
  double step = 0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto [in, out] = layers[l];
    const auto x = random(static_cast<std::size_t>(B) * in, 1), w = random(static_cast<std::size_t>(out) * in, 2),
               g = random(static_cast<std::size_t>(B) * out, 3);
    std::vector<float> z(static_cast<std::size_t>(B) * out), dw(w.size()), dx(x.size());
    const double flop = 2.0 * B * in * out;
    const bool first = l == 0, last = l + 1 == layers.size();
    prepare_layer(B, in, x.data());
    const double fwd = time_of([&] { forward(B, in, out, x.data(), w.data(), z.data(), first, last); });
    const double dW = time_of([&] {
      blocks(out, B, in, [&](parallel::Range u) {
        gemm(true, false, int(u.size()), in, B, g.data() + u.begin, out, x.data(), in, 0.0f, dw.data() + u.begin * in, in);
      });
    });
    const double dX = l == 0 ? 0 : time_of([&] {
      blocks(in, B, out, [&](parallel::Range f) {
        gemm(false, false, B, int(f.size()), out, g.data(), out, w.data() + f.begin, in, 0.0f, dx.data() + f.begin, in);
      });
    });
    // The products must be right, not only fast: sampled elements against a double-precision sum.
    const auto check = [&](const char* what, float got, auto&& exact) {
      double e = 0, mag = 0;
      for (int i = 0; i < 4096; ++i) {
        const auto [p, q] = exact(i);
        if (p == 0 && q == 0 && i > 0) break;
        e += double(p) * q;
        mag += std::abs(double(p) * q);
      }
      if (std::abs(got - e) > 1e-4 * mag + 1e-6) {
        std::fprintf(stderr, "%s: %s of %d→%d is wrong: %g, expected %g\n", kLib, what, in, out, got, e);
        std::exit(4);
      }
    };
    for (int r : {0, B - 1})
      for (int c : {0, out - 1}) {
        std::fill(z.begin(), z.end(), 0.0f);
        forward(B, in, out, x.data(), w.data(), z.data(), first, last);
        check("forward", z[r * out + c], [&](int i) {
          return i < in ? std::pair{x[r * in + i], w[c * in + i]} : std::pair{0.0f, 0.0f};
        });
        check("dW", dw[c * in + (in - 1 - r % in)], [&](int i) {
          return i < B ? std::pair{g[i * out + c], x[i * in + (in - 1 - r % in)]} : std::pair{0.0f, 0.0f};
        });
        if (l > 0)
          check("dx", dx[r * in + (c % in)], [&](int i) {
            return i < out ? std::pair{g[r * out + i], w[i * in + (c % in)]} : std::pair{0.0f, 0.0f};
          });
      }
    step += fwd + dW + dX;
    std::printf("  %3d→%-3d  forward %6.1f  dW %6.1f  dx %6s GFLOP/s\n", in, out, flop / fwd * 1e-9, flop / dW * 1e-9,
                l == 0 ? "-" : std::to_string(static_cast<int>(flop / dX * 1e-9 + 0.5)).c_str());
  }
  std::printf("  step's products: %.1f µs\n", step * 1e6);
}
