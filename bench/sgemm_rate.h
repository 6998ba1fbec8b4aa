// The machine's sgemm rate (GFLOP/s of an n×n×n product, best of 10) with `threads` threads:
// the best of OpenBLAS's own threading, and of a split of C's columns over gradflow's compute
// threads (one single-threaded sgemm each, as the Dense layers run) through OpenBLAS and through
// the library gradflow uses (blas_kernels(): oneDNN where built with it). Used by bench_sgemm, and
// by bench_train to relate training to a rate measured in the same process, moments apart
// (this VM's speed drifts by tens of percent over minutes).
#pragma once

#include <gradflow/gradflow.h>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "../src/core/blas.h"
#include "../src/core/parallel.h"

namespace gradflow::bench {

struct SgemmRate {
  double openblas_threads, openblas_split, gradflow_split;
  double best() const { return std::max({openblas_threads, openblas_split, gradflow_split}); }
};

inline SgemmRate sgemm_rate(int threads, std::size_t n = 1024) {
  Tensor a(n, n), b(n, n), c(n, n);
  Rng rng(1);
  for (float& v : a.span()) v = rng.uniform();
  for (float& v : b.span()) v = rng.uniform();
  blas_kernels();  // choose the kernels (and set OpenBLAS to one thread, as gradflow runs it)
  auto best_gflops = [&](auto product) {
    product();
    double best = 0;
    for (int r = 0; r < 10; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      product();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s * 1e-9);
    }
    return best;
  };
  SgemmRate rate{};
  auto openblas = [&](std::size_t cols, std::size_t first) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(cols),
                static_cast<blasint>(n), 1.0f, a.data(), static_cast<blasint>(n), b.data() + first,
                static_cast<blasint>(n), 0.0f, c.data() + first, static_cast<blasint>(n));
  };
  auto split = [&](auto product) {
    return best_gflops([&] {
      parallel::for_range(n, 2.0 * static_cast<double>(n * n), [&](parallel::Range cols) { product(cols); });
    });
  };
  openblas_set_num_threads(threads);
  rate.openblas_threads = best_gflops([&] { openblas(n, 0); });
  openblas_set_num_threads(1);
  rate.openblas_split = split([&](parallel::Range cols) { openblas(cols.size(), cols.begin); });
  rate.gradflow_split = split([&](parallel::Range cols) {
    blas::gemm(false, false, n, cols.size(), n, 1.0f, a.data(), n, b.data() + cols.begin, n, 0.0f,
               c.data() + cols.begin, n);
  });
  return rate;
}

}  // namespace gradflow::bench
