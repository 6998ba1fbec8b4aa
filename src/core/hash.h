// Internal: a counter-based source of per-element randomness for the layers that draw one value
// per element in training (Dropout's mask, RReLU's slopes). Element i of a call gets
// hash(i, key), with one 64-bit key per call from the model's Rng: unlike a stream of draws,
// every element's value is independent of the others, so it is the same whichever thread
// computes it, and the loop vectorizes.
#pragma once

#include <cstdint>

namespace gradflow::hash {

// Chris Wellons' "lowbias32" integer hash (bias ≈ 0.17 of a perfect hash): cheap, 16 lanes per
// AVX-512 multiply.
inline std::uint32_t mix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

// The 24-bit value of element i under the call's key (k1, k2): the top 24 bits of two rounds.
inline std::uint32_t bits24(std::uint32_t i, std::uint32_t k1, std::uint32_t k2) {
  return mix32(mix32(i ^ k1) + k2) >> 8;
}

}  // namespace gradflow::hash
