#include "core/blas.h"

#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

#include "gradflow/threads.h"
#include "core/parallel.h"

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

namespace {
// Σ_j a_r[j] x[j] for R rows at once: x is loaded once per vector for all R rows, and the R
// accumulators stay in registers. Written with intrinsics: GCC's vectorizer spills an array of
// accumulators to the stack.
#if defined(__AVX512F__)
using vec = __m512;
constexpr std::size_t kLanes = 16;
inline vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline vec vzero() { return _mm512_setzero_ps(); }
#elif defined(__AVX2__) && defined(__FMA__)
using vec = __m256;
constexpr std::size_t kLanes = 8;
inline vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
inline vec vzero() { return _mm256_setzero_ps(); }
#else
using vec = float;
constexpr std::size_t kLanes = 1;
inline vec vload(const float* p) { return *p; }
inline vec vfma(vec a, vec b, vec c) { return a * b + c; }
inline vec vzero() { return 0.0f; }
#endif
// The lanes added in order (once per row, not in the loop).
inline float vsum(vec v) {
  float lanes[kLanes];
  std::memcpy(lanes, &v, sizeof v);
  float s = 0.0f;
  for (float x : lanes) s += x;
  return s;
}

template <int R>
void dot_rows(std::size_t k, const float* a, std::size_t lda, const float* x, float* y) {
  vec s[R];
  for (int r = 0; r < R; ++r) s[r] = vzero();
  std::size_t j = 0;
  for (; j + kLanes <= k; j += kLanes) {
    const vec xv = vload(x + j);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) s[r] = vfma(vload(a + r * lda + j), xv, s[r]);
  }
  for (int r = 0; r < R; ++r) {
    float t = vsum(s[r]);
    for (std::size_t i = j; i < k; ++i) t += a[r * lda + i] * x[i];
    y[r] += t;
  }
}
}  // namespace

void gemv_rows(std::size_t rows, std::size_t k, const float* a, std::size_t lda, const float* x,
               float* y) {
  std::size_t r = 0;
  for (; r + 8 <= rows; r += 8) dot_rows<8>(k, a + r * lda, lda, x, y + r);
  for (; r + 4 <= rows; r += 4) dot_rows<4>(k, a + r * lda, lda, x, y + r);
  for (; r < rows; ++r) dot_rows<1>(k, a + r * lda, lda, x, y + r);
}
}  // namespace blas

}  // namespace gradflow
