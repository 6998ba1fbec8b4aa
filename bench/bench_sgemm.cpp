// The machine's sgemm rate through gradflow's OpenBLAS setup (kernel choice included), for
// judging how close training gets to it:  bench_sgemm [threads=1] [n=1024]
// Two figures: OpenBLAS's own threading, and gradflow's split of C's columns over its compute
// threads (one single-threaded sgemm each, as the Dense layers do); the better is the rate.
#include <gradflow/gradflow.h>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "../src/blas.h"
#include "../src/parallel.h"

namespace {
template <class F>
double best_gflops(std::size_t n, F product) {
  product();
  double best = 0;
  for (int r = 0; r < 10; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    product();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s * 1e-9);
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace gradflow;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  set_num_threads(threads);
  Tensor a(n, n), b(n, n), c(n, n);
  Rng rng(1);
  for (float& v : a.span()) v = rng.uniform();
  for (float& v : b.span()) v = rng.uniform();
  const char* kernels = blas_kernels();  // also sets OpenBLAS to one thread, as gradflow runs it

  openblas_set_num_threads(threads);
  const double own = best_gflops(n, [&] {
    blas::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  openblas_set_num_threads(1);
  const double split = best_gflops(n, [&] {
    parallel::for_range(n, 2.0 * static_cast<double>(n * n), [&](parallel::Range cols) {
      blas::gemm(false, false, n, cols.size(), n, 1.0f, a.data(), n, b.data() + cols.begin, n, 0.0f,
                 c.data() + cols.begin, n);
    });
  });
  std::printf("sgemm %zux%zux%zu, %d thread(s), OpenBLAS %s kernels: OpenBLAS threads %.1f GFLOP/s, "
              "gradflow split %.1f GFLOP/s; best %.1f GFLOP/s\n",
              n, n, n, threads, kernels, own, split, std::max(own, split));
}
