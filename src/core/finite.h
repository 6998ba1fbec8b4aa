// Internal: whether an array of floats holds no NaN and no infinity, in one vectorized pass.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace gradflow {

// Whether none of v[0..n) is NaN or infinite. A float is non-finite exactly when its exponent
// bits are all ones; an integer max over the exponent fields (which vectorizes, unlike a float
// sum) finds any.
inline bool all_finite(const float* v, std::size_t n) {
  std::uint32_t e = 0;
  for (std::size_t k = 0; k < n; ++k) e = std::max(e, std::bit_cast<std::uint32_t>(v[k]) & 0x7f800000u);
  return e != 0x7f800000u;
}

}  // namespace gradflow
