// After the first step, a training step allocates nothing: counted by replacing the global
// operator new for this test binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "gradflow/gradflow.h"

namespace {
std::atomic<std::size_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace gradflow {
namespace {

TEST(Allocation, StepsAfterTheFirstAllocateNothing) {
  Sequential net(20, {nn::dense(32), nn::rrelu(), nn::dense(16), nn::prelu(true), nn::dense(4),
                      nn::softmax()},
                 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.01);
  struct Noop : Callback {
    void on_after_backward(Trainer&, const StepInfo&) override {}
  } noop;
  Trainer t(net, ce, sgd);
  t.add_callback(noop);
  Rng rng(2);
  Tensor x(64, 20), y(64, 1), small_x(17, 20), small_y(17, 1);
  for (float& v : x.span()) v = rng.normal();
  for (std::size_t r = 0; r < 64; ++r) y(r, 0) = static_cast<float>(r % 4);
  for (std::size_t r = 0; r < 17; ++r) {
    std::copy(x.row(r), x.row(r) + 20, small_x.row(r));
    small_y(r, 0) = y(r, 0);
  }
  t.step(x, y);
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 50; ++i) {
    t.step(x, y);
    t.step(small_x, small_y);  // a smaller last batch reuses the buffers
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

TEST(Allocation, ParallelStepsAfterTheFirstAllocateNothing) {
  // Large enough that every product, BatchNorm, dropout, Adam update and the finite check run
  // split over two threads (parallel.h's thresholds).
  set_num_threads(2);
  Sequential net(300, {nn::dense(256), nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(128),
                       nn::tanh(), nn::dense(10)},
                 1);
  Loss ce(LossKind::CrossEntropy);
  Adam adam(AdamOptions{.lr = 1e-3});
  Trainer t(net, ce, adam);
  Rng rng(3);
  Tensor x(256, 300), y(256, 1);
  for (float& v : x.span()) v = rng.normal();
  for (std::size_t r = 0; r < 256; ++r) y(r, 0) = static_cast<float>(r % 10);
  t.step(x, y);
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 20; ++i) t.step(x, y);
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace gradflow
