// What the benchmarks share: their data, and bench/compare's timing rules, so that gradflow's
// side (bench_compare.cpp) and the C++ peers (libtorch_peer.cpp, dlib_peer.cpp) are measured alike.
#pragma once

#include <gradflow/gradflow.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace gradflow::bench {
// Fashion-MNIST's shape without the files: n rows of 784 uniform [0, 1) pixels and a uniform
// label in [0, 10), from Rng(1) — what the benchmarks train on when the numbers of the data do
// not change the work.
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

// bench/compare's data, the same for every side: Fashion-MNIST's training set when Debian's
// dataset-fashion-mnist is installed, else 60,000 synthetic rows of its shape.
inline Dataset fashion_or_synthetic() {
  if (std::filesystem::exists(std::string(idx::kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
    return idx::fashion_mnist(idx::kFashionMnistDir, true);
  return random_fashion_shaped(60000);
}

// bench/compare's training timing rule, the same for every side: the best samples/s of `epochs`
// calls of epoch() over `samples` samples (after the side's own warm-up).
template <class Epoch>
double best_rate(std::size_t epochs, std::size_t samples, Epoch&& epoch) {
  using Clock = std::chrono::steady_clock;
  double best = 0;
  for (std::size_t e = 0; e < epochs; ++e) {
    const auto t0 = Clock::now();
    epoch();
    best = std::max(best, static_cast<double>(samples) / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// bench/compare's inference timing rules, the same for every side: forward(one) is a batch-1
// forward, forward(big) one of 1024 rows.
struct InferenceTimes {
  double latency_us;  // median of 5,000 batch-1 forwards after 200 warm-up ones
  double infer_1024;  // samples/s: best of 5 runs of 20 batch-1024 forwards
};
template <class One, class Big>
InferenceTimes time_inference(One&& forward_one, Big&& forward_big) {
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  for (int i = 0; i < 200; ++i) forward_one();
  std::vector<double> us;
  for (int i = 0; i < 5000; ++i) {
    const auto t0 = Clock::now();
    forward_one();
    us.push_back(since(t0) * 1e6);
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  forward_big();
  double rate = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) forward_big();
    rate = std::max(rate, 20 * 1024 / since(t0));
  }
  return {us[us.size() / 2], rate};
}
}  // namespace gradflow::bench
