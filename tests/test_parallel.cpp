// The compute threads (src/parallel.h) and what they promise: every part of the work done once,
// the same results for any thread count (products in fixed blocks), the fused
// Dense+activation pass equal to the two layers run one by one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <csignal>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gradflow/gradflow.h"
#include "core/parallel.h"

namespace gradflow {
namespace {

// Restores the thread count a test changed. The tests count a region's parts, so the pool's
// stall policy (solo regions while workers stall) is off unless a test turns it on: a loaded
// test machine could otherwise stall a worker.
struct Threads {
  int saved = num_threads();
  explicit Threads(int n) {
    set_num_threads(n);
    parallel::set_stall_policy(false);
  }
  ~Threads() {
    set_num_threads(saved);
    parallel::set_stall_policy(true);
  }
};

TEST(Split, CoversTheRangeOnceOnAlignedCuts) {
  for (std::size_t n : {0u, 1u, 10u, 16u, 17u, 100u, 256u, 784u, 1000u})
    for (int T : {1, 2, 3, 4, 7}) {
      std::size_t next = 0;
      for (int t = 0; t < T; ++t) {
        const parallel::Range r = parallel::split(n, t, T);
        EXPECT_EQ(r.begin, next) << n << " " << t << "/" << T;
        EXPECT_LE(r.begin, r.end);
        if (t + 1 < T) {
          EXPECT_TRUE(r.end % 16 == 0 || r.end == n) << n << " " << t << "/" << T;
        }
        next = r.end;
      }
      EXPECT_EQ(next, n);
    }
  // Fewer items than one aligned block: one thread gets them all (no false sharing).
  EXPECT_EQ(parallel::split(10, 0, 2).size(), 10u);
  EXPECT_EQ(parallel::split(10, 1, 2).size(), 0u);
}

TEST(Blocks, AreFixedByTheSizeAloneAndCoverTheRangeOnce) {
  for (std::size_t n : {1u, 10u, 64u, 65u, 128u, 129u, 256u, 300u, 384u, 784u, 1000u, 4096u}) {
    const std::size_t count = parallel::block_count(n);
    std::size_t next = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const parallel::Range b = parallel::block(n, i);
      EXPECT_EQ(b.begin, next) << n << " block " << i;
      EXPECT_GT(b.size(), 0u) << n << " block " << i;
      EXPECT_LE(b.size(), parallel::kProductBlock) << n;
      EXPECT_TRUE(b.begin % 16 == 0) << n << " block " << i;
      next = b.end;
    }
    EXPECT_EQ(next, n);
    // Thread t's columns are exactly its blocks, whatever the thread count.
    for (int T : {1, 2, 3, 5}) {
      std::size_t covered = 0;
      for (int t = 0; t < T; ++t) {
        const parallel::Range r = parallel::blocks_of(n, t, T);
        if (!r.size()) continue;
        EXPECT_EQ(r.begin, covered) << n << " " << t << "/" << T;
        covered = r.end;
      }
      EXPECT_EQ(covered, n) << n << " over " << T;
    }
  }
  EXPECT_EQ(parallel::block_count(64), 1u);
  EXPECT_EQ(parallel::block_count(128), 2u);  // a 128-unit layer still splits over two threads
  EXPECT_EQ(parallel::block_count(784), 7u);
}

// Every element of C in exactly one tile, tiles on multiples of 16.
void expect_tiling(const parallel::Grid& g, std::size_t m, std::size_t n) {
  std::vector<int> seen(m * n, 0);
  for (std::size_t t = 0; t < g.count(); ++t) {
    const parallel::Range r = g.rows(t), c = g.cols(t);
    EXPECT_GT(r.size() * c.size(), 0u) << m << "x" << n << " tile " << t;
    EXPECT_TRUE(r.begin % 16 == 0 && c.begin % 16 == 0) << m << "x" << n << " tile " << t;
    for (std::size_t i = r.begin; i < r.end; ++i)
      for (std::size_t j = c.begin; j < c.end; ++j) ++seen[i * n + j];
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(m * n)) << m << "x" << n;
}

TEST(Grid, CoversTheOutputOnceInTilesFixedByTheShapes) {
  for (std::size_t m : {1u, 10u, 64u, 100u, 128u, 1024u})
    for (std::size_t n : {1u, 16u, 100u, 256u, 784u})
      for (std::size_t want : {1u, 3u, 16u})
        for (std::size_t least : {16u, 32u, 64u}) {
          expect_tiling(parallel::cut_rows(m, n, want, least), m, n);
          expect_tiling(parallel::Grid{m, n, parallel::cut(m, want, least), n}, m, n);
        }
  // The default network's (784-512-256-10, batches of 128) products on a 16-core machine, as
  // Dense cuts them: every one of the first two layers' in 16 tiles or more (the forward with
  // AVX-512; with AVX2 it cuts 64-row tiles, 8 of them: docs/history/performance-log.md, "Tiles").
  const auto work = [](double m, double n, double k) { return 2 * parallel::kProductFlop * m * n * k; };
  EXPECT_EQ(parallel::tiles_for(work(128, 256, 512)), parallel::kMaxTiles);
  EXPECT_EQ(512 / parallel::cut(512, parallel::kMaxTiles, 16), 16u);              // forward₁ (units), dW₁
  EXPECT_EQ(256 / parallel::cut(256, parallel::kMaxTiles, 16), 16u);              // forward₂, dW₂
  EXPECT_EQ(parallel::cut_rows(128, 512, parallel::kMaxTiles, 32).count(), 16u);   // dx₂
  EXPECT_EQ(parallel::cut_rows(128, 512, parallel::kMaxTiles, 64).count(), 8u);    // forward₁ with AVX2
  // A product too small for another thread stays whole.
  EXPECT_EQ(parallel::cut_rows(64, 10, parallel::tiles_for(work(64, 10, 128)), 16).count(), 1u);
}

TEST(Region, RunsEveryPartOnceAndNestedRegionsRunSerially) {
  Threads two(2);
  for (int rep = 0; rep < 1000; ++rep) {
    std::atomic<int> calls{0}, mask{0}, nested{0};
    parallel::run([&](int t, int T) {
      EXPECT_EQ(T, 2);
      ++calls;
      mask |= 1 << t;
      parallel::run([&](int, int inner) { nested += inner; }, 2);  // must not wait on itself
    }, 2);
    ASSERT_EQ(calls.load(), 2);
    ASSERT_EQ(mask.load(), 3);
    ASSERT_EQ(nested.load(), 2);  // each nested region ran on one thread
  }
  int serial_parts = 0;
  parallel::run([&](int, int T) { serial_parts += T; }, 1);
  EXPECT_EQ(serial_parts, 1);
  std::atomic<int> capped{0};
  parallel::run([&](int, int T) { capped = T; }, 64);  // no more parts than threads
  EXPECT_EQ(capped.load(), 2);
}

// A ThreadLimit caps the calling thread's regions only, and restores what was there.
TEST(Region, AThreadLimitCapsTheCallingThreadAlone) {
  Threads four(4);
  {
    const ThreadLimit one(1);
    EXPECT_EQ(num_threads(), 1);
    int parts = 0;
    parallel::run([&](int, int T) { parts = T; }, 4);
    EXPECT_EQ(parts, 1);
    {
      const ThreadLimit three(3);
      EXPECT_EQ(num_threads(), 3);
    }
    EXPECT_EQ(num_threads(), 1);
    int other = 0;
    std::thread([&] { other = num_threads(); }).join();
    EXPECT_EQ(other, 4);  // another thread: the process's count
  }
  EXPECT_EQ(num_threads(), 4);
  const ThreadLimit many(64);  // above the process's count: the process's count
  EXPECT_EQ(num_threads(), 4);
  EXPECT_THROW(ThreadLimit(-1), std::invalid_argument);
}

TEST(Region, UsesOnlyThePartsItIsGiven) {
  Threads four(4);
  for (int parts : {3, 4, 2, 4, 1, 3}) {
    std::atomic<int> calls{0}, mask{0}, seen_T{0};
    parallel::run([&](int t, int T) {
      ++calls;
      mask |= 1 << t;
      seen_T = T;
    }, parts);
    EXPECT_EQ(calls.load(), parts);
    EXPECT_EQ(mask.load(), (1 << parts) - 1);
    EXPECT_EQ(seen_T.load(), parts);
  }
  // A region's parts follow its work: one thread for little, all for much.
  EXPECT_EQ(parallel::parts_for(1e3), 1);
  EXPECT_EQ(parallel::parts_for(1e9), 4);
}

// A Ctrl-C reaches a thread of the program's, whose handler then runs on its alternate stack
// (gradflow/signal_stack.h): the workers block asynchronous signals, not the synchronous ones.
TEST(Region, WorkersBlockAsynchronousSignals) {
  Threads two(2);
  std::atomic<int> blocked_int[2] = {-1, -1}, blocked_segv[2] = {-1, -1};
  parallel::run([&](int t, int) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    blocked_int[t] = sigismember(&now, SIGINT) + sigismember(&now, SIGTERM);
    blocked_segv[t] = sigismember(&now, SIGSEGV);
  }, 2);
  EXPECT_EQ(blocked_int[0].load(), 0);  // the caller's mask is untouched
  EXPECT_EQ(blocked_int[1].load(), 2);
  EXPECT_EQ(blocked_segv[1].load(), 0);
  sigset_t caller;
  pthread_sigmask(SIG_SETMASK, nullptr, &caller);
  EXPECT_FALSE(sigismember(&caller, SIGINT));
}

TEST(SignalStack, IsThisThreadsWhileAliveAndLeavesOneThatWasThere) {
  const auto current = [] {
    stack_t s{};
    sigaltstack(nullptr, &s);
    return s;
  };
  // On a thread of its own, without the one a sanitizer gives every thread.
  std::thread([&] {
    const stack_t sanitizer = current();
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    {
      SignalStack outer;
      const stack_t installed = current();
      EXPECT_FALSE(installed.ss_flags & SS_DISABLE);
      EXPECT_GE(installed.ss_size, 64u * 1024);
      {
        SignalStack inner;
        EXPECT_EQ(current().ss_sp, installed.ss_sp);
      }
      EXPECT_EQ(current().ss_sp, installed.ss_sp);  // the inner one left the outer's in place
    }
    EXPECT_TRUE(current().ss_flags & SS_DISABLE);
    if (!(sanitizer.ss_flags & SS_DISABLE)) sigaltstack(&sanitizer, nullptr);
  }).join();
}

// GRADFLOW_NUM_THREADS is read once, at start-up (gradflow/runtime.h; a bad value is an error
// there: tests/app/test_cli.cpp's Cli.EnvironmentIsCheckedAtStartUp).
TEST(Region, TheDefaultCountComesFromTheEnvironment) {
  Threads restore(1);
  set_num_threads(0);
  const int want = gradflow::runtime().threads > 0 ? gradflow::runtime().threads
                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(num_threads(), want);
}

TEST(Region, WorkersWakeAfterSleeping) {
  Threads two(2);
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: workers sleep
    std::atomic<int> calls{0};
    parallel::run([&](int, int) { ++calls; }, 2);
    EXPECT_EQ(calls.load(), 2);
  }
}

TEST(Region, StallingWorkersSendRegionsToTheCallerAloneForAWhile) {
  using namespace std::chrono_literals;
  Threads two(2);
  parallel::set_stall_policy(true);
  // A worker that needs 2 ms where the caller needs nothing: what a worker whose core another
  // process holds looks like to the caller.
  int solo_after = -1;
  for (int i = 0; i < 200 && solo_after < 0; ++i) {
    std::atomic<int> parts{0};
    parallel::run([&](int t, int T) {
      parts = T;
      if (t == 1) std::this_thread::sleep_for(2ms);
    }, 2);
    if (parts == 1) solo_after = i;
  }
  ASSERT_GE(solo_after, 1) << "no solo region after 200 stalls";
  // The first back-off is 10 ms; after it, regions use every thread again.
  std::this_thread::sleep_for(30ms);
  std::atomic<int> parts{0};
  parallel::run([&](int, int T) { parts = T; }, 2);
  EXPECT_EQ(parts.load(), 2);
}

// A model big enough that, at batch 256, every product, batch norm, dropout and optimizer
// update is split over the threads (parallel.h's thresholds), products over three threads.
Sequential big_model() {
  return Sequential(300, {nn::dense(384), nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(256),
                          nn::tanh(), nn::dense(10)},
                    7);
}

Dataset big_data(std::size_t features = 300) {
  Dataset d;
  d.name = "random";
  d.num_classes = 10;
  d.x = Tensor(1024, features);
  d.y = Tensor(1024, 1);
  Rng rng(5);
  for (float& v : d.x.span()) v = rng.uniform(-1.0f, 1.0f);
  for (float& v : d.y.span()) v = static_cast<float>(rng.below(10));
  return d;
}

Tensor train_params(int threads) {
  Threads t(threads);
  Sequential net = big_model();
  Adam adam(AdamOptions{.lr = 1e-3});
  Loss ce(LossKind::CrossEntropy);
  Trainer trainer(net, ce, adam, TrainOptions{.epochs = 2, .batch_size = 256, .seed = 3});
  trainer.fit(big_data());
  return net.parameters();
}

void expect_identical(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.size(), b.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  EXPECT_EQ(differ, 0u) << "of " << a.size() << " values";
}

TEST(Determinism, SameThreadCountGivesBitIdenticalTraining) {
  expect_identical(train_params(2), train_params(2));
}

TEST(Determinism, AnyThreadCountGivesBitIdenticalTraining) {
  // Promised (threads.h): every value is computed by one thread, products in tiles fixed by
  // the shapes, so the arithmetic is the same whatever the split: 1 to 16 threads (more than
  // this machine's cores: each region's parts still run on threads of their own). Checked on
  // every OpenBLAS kernel set by scripts/test-kernels.sh.
  const Tensor one = train_params(1);
  for (int threads = 2; threads <= 16; ++threads) {
    SCOPED_TRACE(threads);
    expect_identical(one, train_params(threads));
  }
}

// One epoch of SGD with momentum on big_data, on 1 to 16 threads: the same weights, bit for bit.
void expect_same_bits_on_any_thread_count(const std::vector<LayerSpec>& layers, std::uint64_t seed,
                                          std::size_t batch, std::size_t features = 300) {
  const Dataset data = big_data(features);
  const auto train = [&](int threads) {
    Threads t(threads);
    Sequential net(features, layers, seed);
    SGD sgd(SGDOptions{.lr = 0.01, .momentum = 0.9});
    Loss ce(LossKind::CrossEntropy);
    Trainer trainer(net, ce, sgd, TrainOptions{.epochs = 1, .batch_size = batch, .seed = seed + 1});
    trainer.fit(data);
    return net.parameters();
  };
  const Tensor one = train(1);
  for (int threads = 2; threads <= 16; ++threads) {
    SCOPED_TRACE(threads);
    expect_identical(one, train(threads));
  }
}

TEST(Determinism, SmallBatchesGiveTheSameBitsOnAnyThreadCount) {
  // Batches of 64: with AVX-512 and libxsmm every product — the transposed forward, dW and dx —
  // runs through libxsmm in blocks fixed by the shapes (blas::gemm_small); elsewhere through
  // sgemm. Either way the split between threads must not change a bit.
  expect_same_bits_on_any_thread_count(
      {nn::dense(256), nn::relu(), nn::dense(128), nn::leaky_relu(), nn::dense(10)}, 5, 64);
}

TEST(Determinism, TheDefaultNetworkGivesTheSameBitsOnAnyThreadCount) {
  // gradflow train's network (784-512-256-10, BatchNorm, dropout, batches of 128): products cut
  // into up to 16 tiles in two dimensions.
  expect_same_bits_on_any_thread_count({nn::dense(512), nn::batch_norm(), nn::relu(), nn::dropout(0.1f), nn::dense(256),
                                        nn::batch_norm(), nn::relu(), nn::dropout(0.1f), nn::dense(10)},
                                       11, 128, 784);
}

TEST(Determinism, ActivationsOutsideADenseGiveTheSameBitsOnAnyThreadCount) {
  // Each splits its columns over the threads by its own cost: a tanh after BatchNorm (SLEEF's
  // tanh, costed as ≈16 passes), PReLU's slope gradients summed per column, RReLU's hashed slopes.
  expect_same_bits_on_any_thread_count({nn::dense(384), nn::batch_norm(), nn::tanh(), nn::dense(256),
                                        nn::prelu(false), nn::dense(256), nn::prelu(true), nn::dense(256),
                                        nn::rrelu(), nn::dense(10)},
                                       9, 256);
}

TEST(Fused, DenseWithActivationEqualsTheLayersOneByOne) {
  Threads two(2);
  for (LayerSpec act : {nn::relu(), nn::sigmoid(), nn::tanh(), nn::leaky_relu(0.1f), nn::elu(), nn::selu(),
                        nn::identity()}) {
    Sequential fused(300, {nn::dense(200), act, nn::dense(10)}, 11);
    Sequential plain(300, {nn::dense(200), act, nn::dense(10)}, 11);
    const Dataset d = big_data();
    const Tensor& z = fused.forward(d.x, Mode::Train);
    // The same layers called one at a time (Layer::forward / backward never fuse).
    Layer &l0 = plain.layer(0), &l1 = plain.layer(1), &l2 = plain.layer(2);
    Rng rng;
    Tensor h0, h1, h2, g1, g0;
    l0.forward(d.x, h0, Mode::Train, rng);
    l1.forward(h0, h1, Mode::Train, rng);
    l2.forward(h1, h2, Mode::Train, rng);
    expect_identical(z, h2);
    Tensor dz;
    Loss ce(LossKind::CrossEntropy);
    ce.forward_backward(z, d.y, &dz);
    Tensor dx_fused, dx_plain;
    fused.backward(dz, fused.size(), &dx_fused);
    l2.backward(h1, h2, dz, &g1);
    l1.backward(h0, h1, g1, &g0);
    l0.backward(d.x, h0, g0, &dx_plain);
    expect_identical(fused.gradients(), plain.gradients());
    expect_identical(dx_fused, dx_plain);
  }
}

TEST(Fused, TransposedActivationsPassedBetweenDenseLayersGiveTheSameBits) {
  // With AVX-512 the Dense forward runs transposed (blas::transposed_forward): libxsmm's for a
  // batch of 64, oneDNN's for 200; Sequential hands each Dense's aᵀ to the next
  // (Dense::forward_fused's at); called one at a time, every Dense transposes its input itself.
  // Elsewhere both run the plain product.
  Threads two(2);
  Sequential net(300, {nn::dense(200), nn::relu(), nn::dense(96), nn::tanh(), nn::dense(10), nn::dense(7)}, 4);
  const Dataset d = big_data();
  for (std::size_t batch : {64u, 200u}) {
    SCOPED_TRACE(batch);
    Tensor x(batch, 300);
    std::copy(d.x.row(0), d.x.row(batch), x.data());
    const Tensor& y = net.forward(x, Mode::Train);
    Rng rng;
    Tensor h[6];
    const Tensor* cur = &x;
    for (std::size_t i = 0; i < net.size(); ++i) {
      net.layer(i).forward(*cur, h[i], Mode::Train, rng);
      cur = &h[i];
    }
    expect_identical(y, h[5]);
    expect_identical(net.output(2), h[2]);  // z of the second Dense, before its tanh
  }
}

TEST(Fused, BatchOfOneMatchesTheBatchedProduct) {
  Threads two(2);
  Sequential net(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(10)}, 2);
  Tensor x(8, 784);
  Rng rng(9);
  for (float& v : x.span()) v = rng.uniform();
  const Tensor batched = net.forward(x, Mode::Eval);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    Tensor one(1, 784);
    std::copy(x.row(r), x.row(r + 1), one.data());
    const Tensor& y = net.forward(one, Mode::Eval);
    for (std::size_t j = 0; j < y.cols(); ++j)
      EXPECT_NEAR(y(0, j), batched(r, j), 1e-5f * (1.0f + std::fabs(batched(r, j)))) << r << "," << j;
  }
}

TEST(NonFinite, DetectedInAParallelCheckAndNoFalseAlarm) {
  Threads two(2);
  Sequential net = big_model();
  SGD sgd(SGDOptions{.lr = 0.01});
  Loss ce(LossKind::CrossEntropy);
  Trainer trainer(net, ce, sgd, TrainOptions{.epochs = 1, .batch_size = 256, .seed = 3});
  Dataset d = big_data();
  EXPECT_NO_THROW(trainer.fit(d));
  net.parameters()[1234] = std::numeric_limits<float>::quiet_NaN();  // a weight of Dense(300→384)
  EXPECT_THROW(trainer.fit(d), TrainingDiverged);
}

TEST(Region, CallsFromSeveralProgramThreadsAreSafe) {
  Threads two(2);
  const Dataset d = big_data();
  Sequential reference = big_model();
  const Tensor want = reference.forward(d.x, Mode::Eval);
  std::vector<std::thread> users;
  std::atomic<int> mismatches{0};
  for (int u = 0; u < 3; ++u)
    users.emplace_back([&] {
      Sequential net = big_model();
      for (int rep = 0; rep < 20; ++rep) {
        const Tensor& y = net.forward(d.x, Mode::Eval);
        for (std::size_t i = 0; i < y.size(); ++i)
          if (std::fabs(y[i] - want[i]) > 1e-5f) ++mismatches;
      }
    });
  for (auto& t : users) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Region, AForkedChildComputesWithFreshThreads) {
  Threads two(2);
  const Dataset d = big_data();
  Sequential net = big_model();
  const Tensor want = net.forward(d.x, Mode::Eval);  // the parent's workers are running now
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Without the fork handler this waits forever for a worker that only exists in the parent.
    const Tensor& y = net.forward(d.x, Mode::Eval);
    bool same = y.size() == want.size();
    for (std::size_t i = 0; same && i < y.size(); ++i) same = y[i] == want[i];
    _exit(same ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace gradflow
