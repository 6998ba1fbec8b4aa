// The machine's sgemm rate through gradflow's OpenBLAS setup (kernel choice included), for
// judging how close training gets to it:  bench_sgemm [threads=1] [n=1024]
#include <cstdio>
#include <cstdlib>

#include "sgemm_rate.h"

int main(int argc, char** argv) {
  using namespace gradflow;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  set_num_threads(threads);
  const bench::SgemmRate r = bench::sgemm_rate(threads, n);
  std::printf("sgemm %zux%zux%zu, %d thread(s), OpenBLAS %s kernels: OpenBLAS threads %.1f GFLOP/s, "
              "gradflow split %.1f GFLOP/s; best %.1f GFLOP/s\n",
              n, n, n, threads, blas_kernels(), r.openblas_threads, r.gradflow_split, r.best());
}
