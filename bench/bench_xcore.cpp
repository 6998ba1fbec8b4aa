// What moving data between two cores costs here: the round trip of one cache line bounced
// between two pinned threads, the rate of reading (memcpy) a buffer the other core has just
// written against one this core wrote, and of writing a buffer the other core has just read
// (its copies must be invalidated first: what data-parallel training pays for weights and
// gradients both cores touch every step), by size (docs/history/performance-log.md, "Where two
// threads lose", "A step split by batch rows").
//   bench_xcore   (needs two cores: it pins threads to CPUs 0 and 1)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include <cstring>
#include <pthread.h>
#include <sched.h>
void pin(int c) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(c, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }
using clk = std::chrono::steady_clock;
int main() {
  alignas(64) std::atomic<int> flag{0};
  { // ping-pong
    const int N = 200000;
    std::thread t([&] { pin(1); for (int i = 0; i < N; ++i) { while (flag.load(std::memory_order_acquire) != 2 * i + 1) {} flag.store(2 * i + 2, std::memory_order_release); } });
    pin(0);
    auto t0 = clk::now();
    for (int i = 0; i < N; ++i) { flag.store(2 * i + 1, std::memory_order_release); while (flag.load(std::memory_order_acquire) != 2 * i + 2) {} }
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    t.join();
    std::printf("round trip of a cache line between the cores: %.0f ns\n", s / N * 1e9);
  }
  for (size_t kb : {64, 256, 512, 1024, 4096}) {
    size_t n = kb * 1024 / 4;
    std::vector<float> buf(n), dst(n);
    double own = 1e9, other = 1e9;
    for (int rep = 0; rep < 20; ++rep) {
      for (int who : {0, 1}) {
        std::thread w([&] { pin(who); for (size_t i = 0; i < n; ++i) buf[i] = float(i + rep); });
        w.join();
        pin(0);
        auto t0 = clk::now();
        std::memcpy(dst.data(), buf.data(), n * 4);
        double d = std::chrono::duration<double>(clk::now() - t0).count();
        (who == 0 ? own : other) = std::min(who == 0 ? own : other, d);
      }
    }
    std::printf("%5zu KB written by this core: read %.1f GB/s; by the other core: %.1f GB/s\n", kb, kb * 1024 / own / 1e9, kb * 1024 / other / 1e9);
  }
  for (size_t kb : {256, 1024}) {
    size_t n = kb * 1024 / 4;
    std::vector<float> buf(n, 1.0f);
    double own = 1e9, other = 1e9;
    volatile float sink = 0;
    for (int rep = 0; rep < 20; ++rep) {
      for (int who : {0, 1}) {
        std::thread r([&] { pin(who); float s = 0; for (size_t i = 0; i < n; ++i) s += buf[i]; sink = s; });
        r.join();
        pin(0);
        auto t0 = clk::now();
        std::fill(buf.begin(), buf.end(), float(rep));
        double d = std::chrono::duration<double>(clk::now() - t0).count();
        (who == 0 ? own : other) = std::min(who == 0 ? own : other, d);
      }
    }
    std::printf("%5zu KB read last by this core: written at %.1f GB/s; by the other core: %.1f GB/s\n", kb, kb * 1024 / own / 1e9, kb * 1024 / other / 1e9);
  }
}
