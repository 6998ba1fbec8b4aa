// A BatchNorm, its ReLU and a Dropout, training forward and backward
// at the default network's shapes, as three layers one by one against BatchNorm's fused passes
// (BatchNorm::forward_fused / backward_fused, what Sequential runs); best of many short runs,
// so that a noisy machine's slow minutes drop out. docs/history/performance-log.md, "BatchNorm's group".
//   bench_fusion [THREADS=1] [B=128] [F=512]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "gradflow/gradflow.h"

using namespace gradflow;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t B = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 128;
  const std::size_t F = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 512;
  set_num_threads(threads);
  auto bn = make_layer(nn::batch_norm(), F), act = make_layer(nn::relu(), F), drop = make_layer(nn::dropout(0.1f), F);
  std::vector<float> values(2 * F), grads(2 * F);
  bn->bind(values.data(), grads.data());
  Rng rng(1);
  bn->init(rng);
  Tensor x(B, F), g(B, F), y, a, d, da, dy, dx;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(), g[i] = rng.normal();
  auto& fused = dynamic_cast<BatchNorm&>(*bn);
  const BatchNorm::Followers next{nn::relu(), a, dynamic_cast<Dropout*>(drop.get()), &d};
  const auto one_by_one = [&] {
    bn->forward(x, y, Mode::Train, rng);
    act->forward(y, a, Mode::Train, rng);
    drop->forward(a, d, Mode::Train, rng);
    drop->backward(a, d, g, &da);
    act->backward(y, a, da, &dy);
    bn->backward(x, y, dy, &dx);
  };
  const auto in_one_region = [&] {
    fused.forward_fused(x, y, next, Mode::Train, rng);
    fused.backward_fused(x, y, next, g, dy, &dx);
  };
  double best[2] = {1e9, 1e9};
  for (int round = 0; round < 400; ++round)
    for (int k = 0; k < 2; ++k) {
      const auto t0 = clk::now();
      for (int rep = 0; rep < 20; ++rep) k == 0 ? one_by_one() : in_one_region();
      best[k] = std::min(best[k], std::chrono::duration<double, std::micro>(clk::now() - t0).count() / 20);
    }
  std::printf("BatchNorm+ReLU+Dropout [%zu, %zu], %d thread(s), forward+backward: one by one %.1f µs, fused %.1f µs "
              "(%.2f×)\n", B, F, threads, best[0], best[1], best[0] / best[1]);
}
