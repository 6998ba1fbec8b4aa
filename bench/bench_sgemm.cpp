// The machine's sgemm rate through OpenBLAS and through gradflow's sgemm (oneDNN where built
// with it), for judging how close training gets to it:  bench_sgemm [threads=1] [n=1024]
#include <cstdio>
#include <cstdlib>

#include "sgemm_rate.h"

int main(int argc, char** argv) {
  gradflow::select_openblas_kernels();  // as the CLI does at start-up
  using namespace gradflow;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  set_num_threads(threads);
  const bench::SgemmRate r = bench::sgemm_rate(threads, n);
  std::printf("sgemm %zux%zux%zu, %d thread(s): OpenBLAS threads %.1f GFLOP/s, OpenBLAS split %.1f, "
              "%s split %.1f; best %.1f GFLOP/s\n",
              n, n, n, threads, r.openblas_threads, r.openblas_split, blas_kernels(), r.gradflow_split, r.best());
}
