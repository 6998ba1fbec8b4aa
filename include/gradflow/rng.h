// Rng: the one source of randomness — initialization, shuffling, RReLU and dropout noise.
//
// xoshiro256** (Blackman & Vigna) seeded through splitmix64. Written out here rather than
// taken from <random> because std::normal_distribution and std::uniform_int_distribution are
// implementation-defined: a seed must give the same weights with any standard library.
// The whole state is four words, so it can be saved in a checkpoint and restored.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace gradflow {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);

  std::uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (every float of that grid is equally likely).
  float uniform();
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal N(0, 1) by Box-Muller in double precision; no value is cached between
  // calls, so the state is exactly the four words.
  float normal();
  // Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t n);
  // Fisher-Yates shuffle of indices.
  void shuffle(std::span<std::uint32_t> items);
  // An independent generator derived from this one (advances this one).
  Rng split();

  std::array<std::uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<std::uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace gradflow
