#include "core/parallel.h"

#include "gradflow/runtime.h"

#include "gradflow/threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <csignal>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRADFLOW_PAUSE() _mm_pause()
#else
#define GRADFLOW_PAUSE() ((void)0)
#endif

namespace gradflow::parallel {

namespace {

// Workers spin this long after a region before they sleep: a training step opens dozens of
// regions microseconds apart, and waking a sleeping thread costs a futex call and several
// microseconds. While spinning they yield now and then, so that a machine with more runnable
// threads than cores (tests run side by side) still makes progress.
constexpr auto kSpin = std::chrono::microseconds(200);

// A busy machine. When another process holds a core, one of our threads is off the CPU for a
// scheduler slice (milliseconds) now and then; a region waits for its part, so the whole
// program runs at that thread's pace — 0.8× of one thread's speed with two threads on 2 cores
// and one core busy (bench/busy). So the caller waits for the workers by spinning only
// kCallerSpin, then sleeps (freeing its core for the late worker), and counts the time lost in
// stalls (waits longer than kCallerSpin and than its own part). When stalls cost more than a
// tenth of a kWindow, the pool goes solo: regions run on the caller alone for a back-off
// period — 10 ms, doubled (up to 1 s) each time the stalls are back within a second of the
// last solo period, 10 ms again after a quiet second. A quiet (virtual) machine has stalls
// too — 60–160 µs a few times per second, which must not send it solo. Results do not change:
// every region gives the same bits on any number of threads.
constexpr auto kCallerSpin = std::chrono::microseconds(50);
constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kLastBackoff = std::chrono::seconds(1);
constexpr auto kWindow = std::chrono::milliseconds(50);

inline void relax(unsigned& spins) {
  if (++spins % 1024 == 0)
    std::this_thread::yield();
  else
    GRADFLOW_PAUSE();
}

void pool_after_fork();

}  // namespace

int default_threads() {
  if (const int n = runtime().threads; n > 0) return n;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

class Pool {
 public:
  Pool() {
    // A child of fork() has only the forking thread: the workers it inherited do not exist
    // there. It abandons them (their objects are leaked, never joined) and starts its own.
    pthread_atfork(nullptr, nullptr, [] { pool_after_fork(); });
  }
  ~Pool() { resize(1); }

  // In the child: forget the parent's workers and any lock or region they were in.
  void after_fork() {
    new std::vector<std::thread>(std::move(workers_));  // leaked on purpose: cannot be joined
    workers_.clear();
    busy_.store(false);
    sleepers_.store(0);
    caller_sleeping_.store(false);
    new (&sleep_) std::mutex;
    new (&wake_) std::condition_variable;
    new (&caller_sleep_) std::mutex;
    new (&caller_wake_) std::condition_variable;
    new (&config_) std::mutex;
  }

  int threads() const { return sim_ ? sim_->threads : threads_; }

  void simulate(Simulation* s) {
    std::lock_guard config(config_);
    sim_ = s;
  }

  void set_stall_policy(bool on) {
    std::lock_guard config(config_);
    stall_policy_ = on;
    solo_until_.store(0, std::memory_order_relaxed);
  }

  void resize(int n) {
    std::lock_guard config(config_);
    solo_until_.store(0, std::memory_order_relaxed);
    if (n == threads_ && static_cast<int>(workers_.size()) == n - 1) return;
    stop_workers();
    threads_ = n;
  }

  void run(void (*fn)(void*, int, int), void* ctx, int parts) {
    parts = std::min(parts, parallel::threads());  // (the caller's ThreadLimit included)
    if (parts <= 1 || busy_.exchange(true, std::memory_order_acquire)) {
      fn(ctx, 0, 1);
      return;
    }
    if (sim_) {
      run_simulated(fn, ctx, parts);
      return;
    }
    const auto start = Clock::now();
    if (start.time_since_epoch().count() < solo_until_.load(std::memory_order_relaxed)) {
      busy_.store(false, std::memory_order_release);
      fn(ctx, 0, 1);
      return;
    }
    if (static_cast<int>(workers_.size()) != threads_ - 1) start_workers();
    fn_ = fn;
    ctx_ = ctx;
    // The region's part count travels in the same word as its generation, so a worker that sat
    // out the previous region (and is not waited for) cannot read the count of another one.
    const std::uint64_t word = generation_.load(std::memory_order_relaxed);
    const std::uint64_t gen = (word >> kPartBits) + 1;
    generation_.store(gen << kPartBits | static_cast<std::uint64_t>(parts), std::memory_order_seq_cst);
    const bool woke = sleepers_.load(std::memory_order_seq_cst) > 0;
    if (woke) {
      std::lock_guard lock(sleep_);
      wake_.notify_all();
    }
    // The workers use the caller's frame: wait for them even if the caller's part throws.
    std::exception_ptr error;
    try {
      fn(ctx, 0, parts);
    } catch (...) {
      error = std::current_exception();
    }
    wait_for_workers(gen, parts, start, woke);
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
  }

 private:
  void start_workers() {
    std::lock_guard config(config_);
    stop_.store(false);
    const std::uint64_t word = generation_.load();
    done_ = std::vector<Done>(static_cast<std::size_t>(threads_));
    for (auto& d : done_) d.gen.store(word >> kPartBits);
    // Workers inherit this thread's signal mask: with the asynchronous signals blocked there,
    // a Ctrl-C or kill always runs its handler on a thread of the caller's. Delivered to a
    // worker inside a oneDNN product, SIGINT corrupted the heap in ~5% of runs (2026-12-02).
    sigset_t all, old;
    sigfillset(&all);
    for (const int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP}) sigdelset(&all, sync);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t, word] { work(t, word); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stop_.store(true);
    generation_.fetch_add(std::uint64_t{1} << kPartBits, std::memory_order_seq_cst);
    {
      std::lock_guard lock(sleep_);
      wake_.notify_all();
    }
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  using Clock = std::chrono::steady_clock;

  // The parts one after another on the caller (busy_ held: nested regions run inline).
  void run_simulated(void (*fn)(void*, int, int), void* ctx, int parts) {
    double slowest = 0, all = 0;
    for (int t = 0; t < parts; ++t) {
      const auto start = Clock::now();
      fn(ctx, t, parts);
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      slowest = std::max(slowest, s);
      all += s;
    }
    busy_.store(false, std::memory_order_release);
    ++sim_->regions;
    sim_->slowest_s += slowest;
    sim_->all_s += all;
  }

  bool all_done(std::uint64_t gen, int parts) const {
    for (int t = 1; t < parts; ++t)
      if (done_[t].gen.load(std::memory_order_seq_cst) != gen) return false;
    return true;
  }

  // `woke`: a worker was asleep when the region began; waking it takes the scheduler tens of
  // microseconds even on a quiet machine, so such a wait is not a stall.
  void wait_for_workers(std::uint64_t gen, int parts, Clock::time_point start, bool woke) {
    const auto mine = Clock::now();
    const auto until = mine + kCallerSpin;
    for (unsigned spins = 0; !all_done(gen, parts);) {
      relax(spins);
      if (spins % 64 == 0 && Clock::now() > until) {
        std::unique_lock lock(caller_sleep_);
        // The same handshake as the workers' sleep: we announce the sleep, then look at the
        // parts; a worker stores its part's generation, then looks for a sleeping caller.
        caller_sleeping_.store(true, std::memory_order_seq_cst);
        caller_wake_.wait(lock, [&] { return all_done(gen, parts); });
        caller_sleeping_.store(false, std::memory_order_relaxed);
        break;
      }
    }
    const auto end = Clock::now();
    if (!stall_policy_ || woke || end - mine <= std::max<Clock::duration>(kCallerSpin, mine - start)) return;
    if (end - window_ > kWindow) {
      window_ = end;
      lost_ = {};
    }
    lost_ += end - mine;
    if (lost_ * 10 < kWindow) return;
    // Back to the first back-off when the last solo period ended long before.
    const Clock::time_point last_solo{Clock::duration(solo_until_.load(std::memory_order_relaxed))};
    backoff_ = end - last_solo > kLastBackoff ? Clock::duration(kFirstBackoff)
                                              : std::min<Clock::duration>(2 * backoff_, kLastBackoff);
    window_ = end + backoff_;
    solo_until_.store(window_.time_since_epoch().count(), std::memory_order_relaxed);
    lost_ = {};
  }

  void work(int t, std::uint64_t seen) {
    for (;;) {
      // Wait for the next region: spin first, then sleep until run() wakes us.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      for (unsigned spins = 0; generation_.load(std::memory_order_acquire) == seen;) {
        relax(spins);
        if (spins % 64 == 0 && std::chrono::steady_clock::now() > until) break;
      }
      if (generation_.load(std::memory_order_acquire) == seen) {
        std::unique_lock lock(sleep_);
        // Announce the sleep before the last look at the generation; run() bumps the
        // generation before it looks for sleepers (both seq_cst), so one of us sees the other.
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      const int parts = static_cast<int>(seen & kPartMask);
      if (t >= parts) continue;  // not needed in this region; the caller does not wait for us
      // fn_ and ctx_ stay put until we report done: the caller waits for every part.
      fn_(ctx_, t, parts);
      done_[t].gen.store(seen >> kPartBits, std::memory_order_seq_cst);
      if (caller_sleeping_.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(caller_sleep_);
        caller_wake_.notify_one();
      }
    }
  }

  // A region costs two cache-line transfers between cores, the least there can be: the workers
  // read the line the caller wrote (the job and its generation), the caller reads each
  // worker's own line (the generation it finished). Data written by different threads sits on
  // different lines.
  struct alignas(64) Done {
    std::atomic<std::uint64_t> gen{0};
  };
  // generation << kPartBits | the region's part count.
  static constexpr int kPartBits = 16;
  static constexpr std::uint64_t kPartMask = (std::uint64_t{1} << kPartBits) - 1;
  alignas(64) std::atomic<std::uint64_t> generation_{0};
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  int threads_ = default_threads();
  std::vector<Done> done_;
  alignas(64) std::atomic<bool> busy_{false};
  alignas(64) std::atomic<int> sleepers_{0};
  std::mutex sleep_;
  std::condition_variable wake_;
  alignas(64) std::atomic<bool> caller_sleeping_{false};
  std::mutex caller_sleep_;
  std::condition_variable caller_wake_;
  // The stall policy; only the thread in a region touches these.
  Clock::time_point window_{};
  // When the current solo period ends, in Clock ticks; set_threads may end it from any thread.
  std::atomic<Clock::rep> solo_until_{0};
  Clock::duration backoff_{kFirstBackoff}, lost_{};
  std::atomic<bool> stall_policy_{true};
  std::vector<std::thread> workers_;
  Simulation* sim_ = nullptr;
  std::mutex config_;
};

Pool& pool() {
  static Pool p;
  return p;
}

void pool_after_fork() { pool().after_fork(); }

}  // namespace

// The calling thread's ThreadLimit (0: none).
thread_local int thread_limit = 0;

int threads() {
  const int n = pool().threads();
  return thread_limit > 0 ? std::min(n, thread_limit) : n;
}

int parts_for(double work) {
  const double parts = 2.0 * work / kMinParallelWork;
  return parts >= threads() ? threads() : std::max(1, static_cast<int>(parts));
}

void set_threads(int n) { pool().resize(std::max(1, n)); }

void set_stall_policy(bool on) { pool().set_stall_policy(on); }

void simulate(Simulation* s) { pool().simulate(s); }

Range split(std::size_t n, int t, int T, std::size_t align) {
  auto cut = [&](int i) -> std::size_t {
    if (i <= 0) return 0;
    if (i >= T) return n;
    const std::size_t even = n * static_cast<std::size_t>(i) / static_cast<std::size_t>(T);
    return std::min(n, (even + align - 1) / align * align);
  };
  return {cut(t), cut(t + 1)};
}

std::size_t block_count(std::size_t n) {
  if (n <= kProductBlock / 2) return 1;
  return std::max<std::size_t>(2, (n + kProductBlock - 1) / kProductBlock);
}

namespace {
// The size of block(n)'s blocks.
std::size_t block_size(std::size_t n) {
  const std::size_t count = block_count(n);
  return ((n + count - 1) / count + 15) / 16 * 16;
}
}  // namespace

Range block(std::size_t n, std::size_t i) {
  const std::size_t size = block_size(n);
  return {std::min(n, i * size), std::min(n, (i + 1) * size)};
}

Range blocks_of(std::size_t n, int t, int T) {
  const Range mine = split(block_count(n), t, T, 1);
  if (!mine.size()) return {n, n};
  return {block(n, mine.begin).begin, block(n, mine.end - 1).end};
}

Range Grid::rows(std::size_t tile) const {
  const std::size_t i = by_cols ? tile % row_count() : tile / col_count();
  return {std::min(m, i * row_size), std::min(m, (i + 1) * row_size)};
}
Range Grid::cols(std::size_t tile) const {
  const std::size_t j = by_cols ? tile / row_count() : tile % col_count();
  return {std::min(n, j * col_size), std::min(n, (j + 1) * col_size)};
}

std::size_t tiles_for(double work) {
  const double tiles = 2.0 * work / kMinParallelWork;
  return tiles >= static_cast<double>(kMaxTiles) ? kMaxTiles : std::max<std::size_t>(1, static_cast<std::size_t>(tiles));
}

std::size_t cut(std::size_t n, std::size_t count, std::size_t least) {
  count = std::clamp<std::size_t>(count, 1, std::max<std::size_t>(1, n / std::max<std::size_t>(least, 1)));
  return std::max<std::size_t>(16, ((n + count - 1) / count + 15) / 16 * 16);
}

int parts_for(const Grid& g, double cost_per_tile) {
  const int parts = parts_for(static_cast<double>(g.count()) * cost_per_tile);
  return static_cast<int>(std::min<std::size_t>(g.count(), static_cast<std::size_t>(parts)));
}

Grid cut_rows(std::size_t m, std::size_t n, std::size_t want, std::size_t min_rows) {
  Grid g{m, n, 1, std::max<std::size_t>(1, block_size(n))};
  g.row_size = cut(m, (want + g.col_count() - 1) / g.col_count(), min_rows);
  return g;
}

namespace detail {
void run(void (*fn)(void*, int, int), void* ctx, int parts) { pool().run(fn, ctx, parts); }
}  // namespace detail

}  // namespace gradflow::parallel

namespace gradflow {
// The public face of the pool (gradflow/threads.h).
void set_num_threads(int n) {
  if (n <= 0) n = parallel::default_threads();
  parallel::set_threads(n);
}

int num_threads() { return parallel::threads(); }

ThreadLimit::ThreadLimit(int n) : previous_(parallel::thread_limit) {
  if (n < 0)
    throw std::invalid_argument("ThreadLimit: expected 0 (no limit) or more threads, got " + std::to_string(n));
  parallel::thread_limit = n;
}
ThreadLimit::~ThreadLimit() { parallel::thread_limit = previous_; }
}  // namespace gradflow
