// The machine's floating-point peak: how many single-precision FLOP/s the cores issue when they
// do nothing but independent fused multiply-adds on registers (no memory). No product, and no
// training step, can run faster; bench/compare divides its figures by it.
//
//   bench_peak [threads=1]
//
// For each vector instruction set the CPU has (AVX2+FMA: 8 lanes, AVX-512: 16), prints the
// rate of one thread and of `threads` threads at once (the sum of each thread's rate, all
// started together), in GFLOP/s: 2 FLOPs per lane per FMA.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

// kChains independent accumulators hide the FMA latency (4 cycles, 2 pipes on current cores: 8
// in flight); the loop carries nothing else.
constexpr int kChains = 12;
constexpr long kIterations = 50'000'000;

// One function per instruction set (a target attribute does not reach into lambdas or
// templates called from it), written once as a macro.
#define GRADFLOW_FMA_RATE(NAME, TARGET, VEC, SET1, FMADD, LANES)                            \
  __attribute__((target(TARGET))) double NAME() {                                        \
    const VEC one = SET1(1.0f), tiny = SET1(1e-30f);                                      \
    VEC acc[kChains];                                                                     \
    for (VEC& a : acc) a = tiny;                                                          \
    const auto t0 = Clock::now();                                                         \
    for (long n = 0; n < kIterations; ++n) {                                              \
      _Pragma("GCC unroll 12") for (VEC& a : acc) a = FMADD(a, one, tiny);                \
    }                                                                                     \
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();            \
    float sum = 0; /* keeps the accumulators alive */                                     \
    for (VEC& a : acc) sum += a[0];                                                       \
    if (sum < 0) std::puts("");                                                           \
    return static_cast<double>(kIterations) * kChains * (LANES) * 2 / s * 1e-9;           \
  }
GRADFLOW_FMA_RATE(avx2_rate, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
GRADFLOW_FMA_RATE(avx512_rate, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)

// The sum of `threads` concurrent runs of rate(), each thread released at the same moment.
double together(double (*rate)(), int threads) {
  std::vector<double> rates(static_cast<std::size_t>(threads));
  std::atomic<int> ready{0};
  auto run = [&](int t) {
    ready.fetch_add(1);
    while (ready.load() < threads) {
    }
    rates[static_cast<std::size_t>(t)] = rate();
  };
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) others.emplace_back(run, t);
  run(0);
  for (auto& th : others) th.join();
  double sum = 0;
  for (double r : rates) sum += r;
  return sum;
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  __builtin_cpu_init();
  struct Isa {
    const char* name;
    bool present;
    double (*rate)();
  };
  const Isa isas[] = {{"avx2", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), avx2_rate},
                      {"avx512", static_cast<bool>(__builtin_cpu_supports("avx512f")), avx512_rate}};
  for (const Isa& isa : isas) {
    if (!isa.present) continue;
    // Best of three: a virtual machine's core is sometimes shared for a moment.
    double one = 0, all = 0;
    for (int round = 0; round < 3; ++round) {
      one = std::max(one, together(isa.rate, 1));
      if (threads > 1) all = std::max(all, together(isa.rate, threads));
    }
    if (threads > 1)
      std::printf("%s FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d\n", isa.name, one, all, threads);
    else
      std::printf("%s FMA peak: %.1f GFLOP/s on 1 thread\n", isa.name, one);
  }
}
