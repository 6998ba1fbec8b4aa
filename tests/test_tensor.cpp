#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

TEST(Tensor, StorageIsAlignedAndZeroed) {
  Tensor t(3, 5);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 64, 0u);
  for (float v : t.span()) EXPECT_EQ(v, 0.0f);
}

TEST(Tensor, ResizeWithinCapacityKeepsTheAllocation) {
  Tensor t(64, 10);
  const float* p = t.data();
  t.resize(17, 10);
  EXPECT_EQ(t.data(), p);
  t.resize(64, 10);
  EXPECT_EQ(t.data(), p);
  EXPECT_EQ(t.shape_str(), "[64, 10]");
}

TEST(Tensor, ViewsWriteThroughAndCannotGrow) {
  float buf[6] = {};
  Tensor v = Tensor::view(buf, 2, 3);
  v(1, 2) = 5;
  EXPECT_EQ(buf[5], 5);
  EXPECT_THROW(v.resize(3, 3), std::logic_error);
  Tensor copy = v;  // deep and owning
  copy(0, 0) = 1;
  EXPECT_EQ(buf[0], 0);
  EXPECT_FALSE(copy.is_view());
  Tensor fresh(2, 3);
  fresh.fill(7);
  v = std::move(fresh);  // moving into a view writes through too
  EXPECT_EQ(buf[4], 7);
  EXPECT_TRUE(v.is_view());
}

TEST(Rng, SameSeedSameStream) {
  Rng a(9), b(9), c(10);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
}

TEST(Rng, UniformRangeAndBelowIsUnbiased) {
  Rng r(1);
  std::size_t hist[3] = {};
  for (int i = 0; i < 30000; ++i) {
    float u = r.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ++hist[r.below(3)];
  }
  for (std::size_t h : hist) EXPECT_NEAR(static_cast<double>(h), 10000.0, 400.0);
}

TEST(Rng, ShuffleIsAPermutation) {
  Rng r(5);
  std::vector<std::uint32_t> v(100);
  for (std::uint32_t i = 0; i < 100; ++i) v[i] = i;
  r.shuffle(v);
  EXPECT_EQ(std::set<std::uint32_t>(v.begin(), v.end()).size(), 100u);
  EXPECT_NE(v[0] + v[1] * 100, 0u + 1u * 100);
}

}  // namespace
}  // namespace gradflow
