#include "gradflow/dropout.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/hash.h"
#include "core/parallel.h"

namespace gradflow {

std::string Dropout::name() const { return fmt::format("Dropout(p={})", spec_.dropout().p); }

Dropout::Dropout(const LayerSpec& spec, std::size_t features) : Layer(spec, features, features) {
  if (!(spec.dropout().p >= 0.0f && spec.dropout().p <= 1.0f))
    throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1], got {}", spec.dropout().p));
}

// The mask is counter-based (core/hash.h): element i of this call is dropped when its 24 hash
// bits fall below p·2²⁴; i counts from the whole batch's first row (set_first_row), so a slice
// of the batch gets its part of the same mask.
void Dropout::begin(const Tensor& x, Mode mode, Rng& rng) {
  last_training_ = mode == Mode::Train && spec_.dropout().p > 0.0f;
  if (!last_training_) return;
  kept_.resize(x.size());
  cols_ = x.cols();
  const float p = spec_.dropout().p;
  keep_ = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  threshold_ = static_cast<std::uint32_t>(std::ceil(static_cast<double>(p) * 16777216.0));
  const std::uint64_t key = rng.next_u64();
  key1_ = static_cast<std::uint32_t>(key), key2_ = static_cast<std::uint32_t>(key >> 32);
}

void Dropout::apply(const Tensor& x, Tensor& y, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
  const std::size_t w = c1 - c0;
  if (!last_training_) {
    for (std::size_t r = r0; r < r1; ++r) std::memcpy(y.row(r) + c0, x.row(r) + c0, w * sizeof(float));
    return;
  }
  // The members copied to locals: a store through s or b could change a member, so the
  // compiler would reload them each element and not vectorize the hash (one element at a time:
  // 8% of the default job's time).
  const std::size_t F = x.cols();
  const float kept = keep_;
  const std::uint32_t cut = threshold_, key1 = key1_, key2 = key2_;
  for (std::size_t r = r0; r < r1; ++r) {
    const float* a = x.row(r) + c0;
    float* b = y.row(r) + c0;
    std::uint8_t* s = kept_.data() + r * F + c0;
    const auto first = static_cast<std::uint32_t>((first_row_ + r) * F + c0);
    for (std::size_t j = 0; j < w; ++j) {
      const bool keep = hash::bits24(first + static_cast<std::uint32_t>(j), key1, key2) >= cut;
      s[j] = keep;
      b[j] = a[j] * (keep ? kept : 0.0f);
    }
  }
}

void Dropout::gradient(const Tensor& dy, Tensor& dx, std::size_t r0, std::size_t r1, std::size_t c0,
                       std::size_t c1) const {
  if (!last_training_) {
    for (std::size_t r = r0; r < r1; ++r) std::memcpy(dx.row(r) + c0, dy.row(r) + c0, (c1 - c0) * sizeof(float));
    return;
  }
  const float kept = keep_;
  for (std::size_t r = r0; r < r1; ++r) {
    const float* d = dy.row(r);
    const std::uint8_t* s = kept_.data() + r * cols_;
    float* out = dx.row(r);
    for (std::size_t j = c0; j < c1; ++j) out[j] = d[j] * (s[j] ? kept : 0.0f);
  }
}

void Dropout::evaluate_impl(const Tensor& x, Tensor& y) const {
  std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
}

void Dropout::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  begin(x, mode, rng);
  if (!last_training_) {
    evaluate_impl(x, y);
    return;
  }
  parallel::for_range(x.cols(), 2 * parallel::kElementCost * static_cast<double>(x.rows()),
                      [&](parallel::Range c) { apply(x, y, 0, x.rows(), c.begin, c.end); });
}

void Dropout::backward_impl(const Tensor&, const Tensor&, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  if (!last_training_) {
    std::memcpy(dx->data(), dy.data(), dy.size() * sizeof(float));
    return;
  }
  parallel::for_range(dy.cols(), parallel::kElementCost * static_cast<double>(dy.rows()),
                      [&](parallel::Range c) { gradient(dy, *dx, 0, dy.rows(), c.begin, c.end); });
}

}  // namespace gradflow
