#include "core/vmath.h"

#include <sleef.h>

#include <immintrin.h>

#include <cstring>

namespace gradflow::vmath {

namespace {
// The widest vectors the build may use (-march): SLEEF's functions for that instruction set,
// called directly rather than through its run-time dispatcher.
#if defined(__AVX512F__)
using V = __m512;
constexpr std::size_t kLanes = 16;
inline V load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
constexpr auto kExp = Sleef_expf16_u10avx512f;
constexpr auto kExpm1 = Sleef_expm1f16_u10avx512f;
constexpr auto kTanh = Sleef_tanhf16_u10avx512f;
constexpr auto kLog1p = Sleef_log1pf16_u10avx512f;
#elif defined(__AVX2__) && defined(__FMA__)
using V = __m256;
constexpr std::size_t kLanes = 8;
inline V load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, V v) { _mm256_storeu_ps(p, v); }
constexpr auto kExp = Sleef_expf8_u10avx2;
constexpr auto kExpm1 = Sleef_expm1f8_u10avx2;
constexpr auto kTanh = Sleef_tanhf8_u10avx2;
constexpr auto kLog1p = Sleef_log1pf8_u10avx2;
#else  // x86-64's baseline
using V = __m128;
constexpr std::size_t kLanes = 4;
inline V load(const float* p) { return _mm_loadu_ps(p); }
inline void store(float* p, V v) { _mm_storeu_ps(p, v); }
constexpr auto kExp = Sleef_expf4_u10sse2;
constexpr auto kExpm1 = Sleef_expm1f4_u10sse2;
constexpr auto kTanh = Sleef_tanhf4_u10sse2;
constexpr auto kLog1p = Sleef_log1pf4_u10sse2;
#endif

template <auto F>
void apply(const float* x, float* y, std::size_t n) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(y + i, F(load(x + i)));
  if (i == n) return;
  float tail[kLanes] = {};
  std::memcpy(tail, x + i, (n - i) * sizeof(float));
  store(tail, F(load(tail)));
  std::memcpy(y + i, tail, (n - i) * sizeof(float));
}
}  // namespace

void exp(const float* x, float* y, std::size_t n) { apply<kExp>(x, y, n); }
void expm1(const float* x, float* y, std::size_t n) { apply<kExpm1>(x, y, n); }
void tanh(const float* x, float* y, std::size_t n) { apply<kTanh>(x, y, n); }
void log1p(const float* x, float* y, std::size_t n) { apply<kLog1p>(x, y, n); }

}  // namespace gradflow::vmath
