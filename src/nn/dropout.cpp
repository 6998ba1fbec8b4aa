#include "gradflow/dropout.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/hash.h"
#include "core/parallel.h"
#include "nn/pointwise.h"

namespace gradflow {

std::string Dropout::name() const { return fmt::format("Dropout(p={})", spec_.dropout().p); }

Dropout::Dropout(const LayerSpec& spec, std::size_t features) : Layer(spec, features, features) {
  if (!(spec.dropout().p >= 0.0f && spec.dropout().p <= 1.0f))
    throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1], got {}", spec.dropout().p));
}

// The mask is counter-based (core/hash.h): element i of this call is dropped when its 24 hash
// bits fall below p·2²⁴; i counts from the whole batch's first row (set_first_row), so a slice
// of the batch gets its part of the same mask.
void Dropout::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  last_training_ = mode == Mode::Train && spec_.dropout().p > 0.0f;
  if (!last_training_) {
    std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
    return;
  }
  scale_.resize(x.rows(), x.cols());
  const float p = spec_.dropout().p;
  const float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const auto threshold = static_cast<std::uint32_t>(std::ceil(static_cast<double>(p) * 16777216.0));
  const std::uint64_t key = rng.next_u64();
  const auto k1 = static_cast<std::uint32_t>(key), k2 = static_cast<std::uint32_t>(key >> 32);
  const std::size_t F = x.cols();
  parallel::for_range(F, 2 * parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range c) {
    // The captured values copied to locals: a store through s or b could change what a
    // captured reference points to, so the compiler reloaded them each element and did not
    // vectorize the hash (one element at a time: 8% of the default job's time).
    const std::size_t w = c.size();
    const float kept = keep;
    const std::uint32_t cut = threshold, key1 = k1, key2 = k2;
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const float* a = x.row(r) + c.begin;
      float* b = y.row(r) + c.begin;
      float* s = scale_.row(r) + c.begin;
      const auto first = static_cast<std::uint32_t>((first_row_ + r) * F + c.begin);
      for (std::size_t j = 0; j < w; ++j) {
        const float m = hash::bits24(first + static_cast<std::uint32_t>(j), key1, key2) < cut ? 0.0f : kept;
        s[j] = m;
        b[j] = a[j] * m;
      }
    }
  });
}

void Dropout::backward_impl(const Tensor&, const Tensor&, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  if (!last_training_) {
    std::memcpy(dx->data(), dy.data(), dy.size() * sizeof(float));
    return;
  }
  pointwise::multiply(dy, scale_, *dx);
}

}  // namespace gradflow
