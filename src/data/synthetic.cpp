#include "gradflow/data/synthetic.h"

#include <cmath>

#include "gradflow/rng.h"

namespace gradflow::synthetic {

namespace {
Dataset make(const char* name, std::size_t n, std::size_t features, std::size_t classes) {
  Dataset d;
  d.name = name;
  d.x = Tensor(n, features);
  d.y = Tensor(n, 1);
  d.num_classes = classes;
  return d;
}
}  // namespace

Dataset xor_gate() {
  Dataset d = make("xor", 4, 2, 2);
  const float pts[4][3] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}};
  for (std::size_t i = 0; i < 4; ++i) {
    d.x(i, 0) = pts[i][0];
    d.x(i, 1) = pts[i][1];
    d.y(i, 0) = pts[i][2];
  }
  return d;
}

Dataset spirals(std::size_t n, std::size_t classes, float noise, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d = make("spirals", n * classes, 2, classes);
  for (std::size_t c = 0; c < classes; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t row = c * n + i;
      // Radius grows linearly with the angle over 1.75 turns; arms are rotated by 2π/classes.
      const double t = static_cast<double>(i) / static_cast<double>(n);
      const double angle = 1.75 * 2.0 * M_PI * t + 2.0 * M_PI * static_cast<double>(c) / classes;
      const double r = 0.1 + 0.9 * t;
      d.x(row, 0) = static_cast<float>(r * std::cos(angle)) + noise * 0.3f * rng.normal();
      d.x(row, 1) = static_cast<float>(r * std::sin(angle)) + noise * 0.3f * rng.normal();
      d.y(row, 0) = static_cast<float>(c);
    }
  return d;
}

Dataset moons(std::size_t n, float noise, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d = make("moons", n, 2, 2);
  const std::size_t outer = n / 2;
  for (std::size_t i = 0; i < n; ++i) {
    const bool upper = i < outer;
    const std::size_t k = upper ? i : i - outer;
    const std::size_t m = upper ? outer : n - outer;
    const double t = M_PI * static_cast<double>(k) / static_cast<double>(m > 1 ? m - 1 : 1);
    d.x(i, 0) = static_cast<float>(upper ? std::cos(t) : 1.0 - std::cos(t)) + noise * rng.normal();
    d.x(i, 1) = static_cast<float>(upper ? std::sin(t) : 0.5 - std::sin(t)) + noise * rng.normal();
    d.y(i, 0) = upper ? 0.0f : 1.0f;
  }
  return d;
}

Dataset sine(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d = make("sine", n, 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const float x = rng.uniform(-static_cast<float>(M_PI), static_cast<float>(M_PI));
    d.x(i, 0) = x;
    d.y(i, 0) = std::sin(x);
  }
  return d;
}

}  // namespace gradflow::synthetic
