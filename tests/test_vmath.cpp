// exp, expm1, tanh and log1p over arrays (src/core/vmath.h): within SLEEF's 1-ulp bound of the exact
// value, IEEE at the edges (±inf, NaN, overflow), and the same bits for a value wherever it sits
// in an array — the promise that keeps element-wise passes independent of the thread split.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "core/vmath.h"

namespace gradflow {
namespace {

using Fn = void (*)(const float*, float*, std::size_t);
struct Case {
  const char* name;
  Fn f;
  double (*exact)(double);
  float lo, hi;  // the range tested for accuracy (exp: up to overflow)
};
const Case kCases[] = {{"exp", vmath::exp, [](double v) { return std::exp(v); }, -87.0f, 88.0f},
                       {"expm1", vmath::expm1, [](double v) { return std::expm1(v); }, -30.0f, 88.0f},
                       {"tanh", vmath::tanh, [](double v) { return std::tanh(v); }, -12.0f, 12.0f},
                       {"log1p", vmath::log1p, [](double v) { return std::log1p(v); }, -0.999f, 1000.0f}};

// Distance in representable floats (same sign assumed; callers compare values of one sign).
std::int64_t ulps(float a, float b) {
  return std::llabs(static_cast<std::int64_t>(std::bit_cast<std::int32_t>(a)) - std::bit_cast<std::int32_t>(b));
}

TEST(Vmath, EveryValueIsWithinAnUlpOfTheExactResult) {
  for (const Case& c : kCases) {
    const std::size_t n = 100003;  // not a multiple of any vector width: the tail is tested too
    std::vector<float> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = c.lo + (c.hi - c.lo) * static_cast<float>(i) / static_cast<float>(n - 1);
    c.f(x.data(), y.data(), n);
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float want = static_cast<float>(c.exact(x[i]));
      if (want == 0.0f || std::signbit(want) != std::signbit(y[i])) {
        EXPECT_NEAR(y[i], want, 1e-30) << c.name << "(" << x[i] << ")";
        continue;
      }
      worst = std::max(worst, ulps(y[i], want));
    }
    EXPECT_LE(worst, 1) << c.name;
  }
}

TEST(Vmath, InfinitiesNaNAndOverflowComeOutAsIeeeSays) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {-inf, inf, nan, 100.0f, -200.0f, 0.0f};
  std::vector<float> y(x.size());
  vmath::exp(x.data(), y.data(), x.size());
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], inf);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_EQ(y[3], inf);
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[5], 1.0f);
  vmath::expm1(x.data(), y.data(), x.size());
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[1], inf);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_EQ(y[3], inf);
  EXPECT_EQ(y[4], -1.0f);
  EXPECT_EQ(y[5], 0.0f);
  vmath::tanh(x.data(), y.data(), x.size());
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_EQ(y[3], 1.0f);
  EXPECT_EQ(y[4], -1.0f);
  EXPECT_EQ(y[5], 0.0f);
  // SLEEF's log1pf (as PyTorch's) returns +inf above 1e38; the losses call it on (0, 1].
  const std::vector<float> l = {-1.0f, inf, nan, -2.0f, 0.0f, 1e30f};
  vmath::log1p(l.data(), y.data(), l.size());
  EXPECT_EQ(y[0], -inf);
  EXPECT_EQ(y[1], inf);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_NEAR(y[5], std::log(1e30), 1e-4);
}

TEST(Vmath, AValueGivesTheSameBitsWhereverItSitsAndHoweverTheArrayIsCut) {
  for (const Case& c : kCases) {
    const std::size_t n = 1000;
    std::vector<float> x(n), whole(n), pieces(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(static_cast<float>(i)) * 9.0f;
    c.f(x.data(), whole.data(), n);
    // Pieces of 1 to 37 values at every offset, as thread splits and column blocks cut rows.
    for (std::size_t i = 0, len = 1; i < n; i += len, len = len % 37 + 1)
      c.f(x.data() + i, pieces.data() + i, std::min(len, n - i));
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(pieces[i]), std::bit_cast<std::uint32_t>(whole[i])) << c.name << " at " << i;
    // In place, as the activations and the softmax call it.
    std::vector<float> inplace = x;
    c.f(inplace.data(), inplace.data(), n);
    EXPECT_EQ(std::memcmp(inplace.data(), whole.data(), n * sizeof(float)), 0) << c.name;  // NaN too
  }
}

}  // namespace
}  // namespace gradflow
