#include "blas.h"

#include <cblas.h>

#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>

#include "gradflow/threads.h"
#include "parallel.h"

// OpenBLAS internals present in DYNAMIC_ARCH builds (Debian's); weak so that another build
// of OpenBLAS still links, and the kernel choice below is then skipped.
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace gradflow {

namespace {
// OpenBLAS before 0.3.25 falls back to its slowest x86-64 kernels ("Prescott", SSE3) on Intel
// CPUs it does not know, such as Sapphire Rapids (OpenBLAS issue #4267) — a 3× loss for
// sgemm. When that happened and the user did not choose a core type, pick the AVX-512 or AVX2
// kernels the CPU supports, before the first product.
void choose_kernels_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // gradflow splits the work between its own threads (src/parallel.h); OpenBLAS's threads
    // would only compete with them.
    openblas_set_num_threads(1);
    if (std::getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    if (std::string_view(openblas_get_corename()) != "Prescott") return;
    const char* core = nullptr;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      core = "Haswell";
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
  });
}
}  // namespace

const char* blas_kernels() {
  choose_kernels_once();
  return openblas_get_corename();
}

namespace blas {
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  choose_kernels_once();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
              static_cast<blasint>(ldc));
}
}  // namespace blas

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  parallel::set_threads(n);
}

int num_threads() { return parallel::threads(); }

}  // namespace gradflow
