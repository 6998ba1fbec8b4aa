// Small synthetic data sets for the lecture's demonstrations. All are deterministic in seed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gradflow/data/dataset.h"

namespace gradflow::synthetic {

// The four XOR points {0,1}² with label x1 XOR x2 (2 classes).
Dataset xor_gate();
// Two (or more) interleaved spirals in the plane, n points per arm, Gaussian noise of
// standard deviation `noise`; label = arm.
Dataset spirals(std::size_t n_per_class, std::size_t classes = 2, float noise = 0.1f,
                std::uint64_t seed = 0);
// Two interleaving half circles (scikit-learn's make_moons), n points in all.
Dataset moons(std::size_t n, float noise = 0.1f, std::uint64_t seed = 0);
// Regression: x uniform in [−π, π], y = sin x (n samples; the universal-approximation demo).
Dataset sine(std::size_t n, std::uint64_t seed = 0);

}  // namespace gradflow::synthetic
