#include "core/blas.h"

#include <cblas.h>
#include <dlfcn.h>
#include <fmt/format.h>
#if defined(GRADFLOW_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#endif

#if defined(GRADFLOW_LIBXSMM)
#include <libxsmm.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "gradflow/runtime.h"
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
// Which library runs sgemm: oneDNN where the build has it (its JIT kernels run the products of
// a training batch up to 1.17× as fast as OpenBLAS's, never slower: bench/small_gemm), else
// OpenBLAS; GRADFLOW_SGEMM=openblas|onednn overrides. Chosen once per process, so that a run's
// products all come from one library (the two round differently).
struct Sgemm {
  bool onednn = false;
  std::string name;   // "oneDNN 2.6.3 avx512_core", "OpenBLAS Haswell"
  bool xsmm_small = false;  // libxsmm runs small batches' products (small_products' setup half)
  bool onednn_avx512 = false;  // oneDNN's AVX-512 code: the forward of larger batches runs transposed
  // oneDNN's OpenMP runtime: without a limit, every sgemm call would start a team of one thread
  // per core inside each of our compute threads. Looked up, not linked: it is oneDNN's.
  void (*omp_set_num_threads)(int) = nullptr;
};

#if defined(GRADFLOW_ONEDNN)
std::string onednn_name() {
  const dnnl_version_t* v = dnnl_version();
  const char* isa = "x86-64";
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: isa = "sse41"; break;
    case dnnl_cpu_isa_avx: isa = "avx"; break;
    case dnnl_cpu_isa_avx2: isa = "avx2"; break;
    case dnnl_cpu_isa_avx2_vnni: isa = "avx2_vnni"; break;
    case dnnl_cpu_isa_avx512_core: isa = "avx512_core"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_amx: isa = "avx512_core_amx"; break;
    default: break;
  }
  return fmt::format("oneDNN {}.{}.{} {}", v->major, v->minor, v->patch, isa);
}
#endif

Sgemm choose_sgemm() {
  // gradflow splits the work between its own threads (src/parallel.h); OpenBLAS's threads
  // would only compete with them.
  openblas_set_num_threads(1);
  Sgemm s;
#if defined(GRADFLOW_ONEDNN)
  constexpr bool have_onednn = true;
#else
  constexpr bool have_onednn = false;
#endif
  s.onednn = have_onednn;
  const Runtime& env = runtime();
  if (env.sgemm == "openblas") s.onednn = false;
#if defined(GRADFLOW_ONEDNN)
  if (s.onednn) {
    s.name = onednn_name();
    s.onednn_avx512 = dnnl_get_effective_cpu_isa() >= dnnl_cpu_isa_avx512_core;
    s.omp_set_num_threads =
        reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
#if defined(GRADFLOW_LIBXSMM)
    // Only beside oneDNN's AVX-512 code: with AVX2 libxsmm's kernels gain nothing over
    // oneDNN's, and the transposes would be a loss (bench/small_gemm). GRADFLOW_XSMM=0 turns it
    // off (comparisons, and capping one library's instruction set caps both).
    if (dnnl_get_effective_cpu_isa() >= dnnl_cpu_isa_avx512_core && env.xsmm) {
      libxsmm_init();
      if (libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512_CORE) {
        s.xsmm_small = true;
        s.name += fmt::format(", libxsmm {} {} (Dense, batches of 2–64)", LIBXSMM_VERSION, libxsmm_get_target_arch());
      }
    }
#endif
    return s;
  }
#endif
  s.name = fmt::format("OpenBLAS {}", openblas_get_corename());
  return s;
}

// Chosen on the first product; an invalid environment throws to that caller (and to each
// later one, as runtime() does).
const Sgemm& sgemm() {
  static const Sgemm s = choose_sgemm();
  return s;
}
}  // namespace

const char* blas_kernels() { return sgemm().name.c_str(); }

// OpenBLAS before 0.3.25 falls back to its slowest x86-64 kernels ("Prescott", SSE3) on CPUs it
// does not know, such as Sapphire Rapids and Zen 5 (OpenBLAS issue #4267) — a 3× loss for
// sgemm. It reads a choice of kernels only from OPENBLAS_CORETYPE, when it initializes: so set
// it for the moment of a re-initialization, then remove it. Never called by the library itself.
void select_openblas_kernels() {
  if (runtime().openblas_coretype || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
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
}

namespace blas {
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  const Sgemm& s = sgemm();
#if defined(GRADFLOW_ONEDNN)
  if (s.onednn && k > 0) {
    thread_local const bool one_thread = (s.omp_set_num_threads && (s.omp_set_num_threads(1), true));
    (void)one_thread;
    const auto d = [](std::size_t v) { return static_cast<dnnl_dim_t>(v); };
    const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', d(m), d(n), d(k),
                                            alpha, a, d(lda), b, d(ldb), beta, c, d(ldc));  // row-major
    if (status != dnnl_success) {
      // Only invalid arguments make it fail, which the callers' shape checks rule out.
      throw std::logic_error(fmt::format("oneDNN sgemm failed (status {}) for {}x{}x{}", static_cast<int>(status), m,
                                         n, k));
    }
    return;
  }
#endif
  (void)s;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
              static_cast<blasint>(ldc));
}

bool small_products(std::size_t batch) {
  return sgemm().xsmm_small && batch >= 2 && batch <= 64;
}

bool transposed_forward(std::size_t batch) {
  const Sgemm& s = sgemm();
  return small_products(batch) || (s.onednn_avx512 && batch > 64 && batch <= 256);
}

void gemm_small(bool trans_a, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
  // Columns of C in blocks of 64: libxsmm's kernels keep no cache blocking of their own, and a
  // dW of 784 columns runs 3% faster in blocks of 64 than whole (one thread, 128×784, k = 64).
  // The blocks are a function of n alone, so a product computes the same bits wherever it runs.
  constexpr std::size_t kColumns = 64;
  for (std::size_t j = 0; j < n; j += kColumns) {
    const std::size_t cols = std::min(kColumns, n - j);
#if defined(GRADFLOW_LIBXSMM)
    // Column-major, as libxsmm is: C's block is cᵀ[cols×m] = bᵀ[cols×k] op(a)ᵀ[k×m]. The
    // dispatch looks the kernel up (JIT-compiled on its first use; later a registry hit of
    // ≈15 ns, not worth a per-layer cache); null when libxsmm has none for the shape.
    const float alpha = 1.0f;
    const int flags = trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const auto d = [](std::size_t v) { return static_cast<libxsmm_blasint>(v); };
    const libxsmm_blasint M = d(cols), N = d(m), K = d(k), LDA = d(ldb), LDB = d(lda), LDC = d(ldc);
    if (const libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, nullptr)) {
      f(b + j, a, c + j);
      continue;
    }
#endif
    gemm(trans_a, false, m, cols, k, 1.0f, a, lda, b + j, ldb, beta, c + j, ldc);
  }
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
