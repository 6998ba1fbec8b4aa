// Fashion-MNIST's shape without the files: n rows of 784 uniform [0, 1) pixels and a uniform
// label in [0, 10), from Rng(1) — what the benchmarks train on when the numbers of the data do
// not change the work.
#pragma once

#include <gradflow/gradflow.h>

namespace gradflow::bench {
inline Dataset random_fashion_shaped(std::size_t n) {
  Dataset d;
  d.name = "synthetic";
  d.x = Tensor(n, 784);
  d.y = Tensor(n, 1);
  d.num_classes = 10;
  Rng rng(1);
  for (float& v : d.x.span()) v = rng.uniform();
  for (float& v : d.y.span()) v = static_cast<float>(rng.below(10));
  return d;
}
}  // namespace gradflow::bench
