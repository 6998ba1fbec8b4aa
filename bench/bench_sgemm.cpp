// The machine's sgemm rate through gradflow's OpenBLAS setup (kernel choice included), for
// judging how close training gets to it:  bench_sgemm [threads=1] [n=1024]
#include <gradflow/gradflow.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "../src/blas.h"

int main(int argc, char** argv) {
  using namespace gradflow;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  set_num_threads(threads);
  Tensor a(n, n), b(n, n), c(n, n);
  Rng rng(1);
  for (float& v : a.span()) v = rng.uniform();
  for (float& v : b.span()) v = rng.uniform();
  blas::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  double best = 0;
  for (int r = 0; r < 10; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    blas::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s * 1e-9);
  }
  std::printf("sgemm %zux%zux%zu, %d thread(s), OpenBLAS %s kernels: best %.1f GFLOP/s\n", n, n, n, threads,
              blas_kernels(), best);
}
