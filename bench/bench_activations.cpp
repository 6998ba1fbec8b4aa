// gradflow's side of bench/compare_activations: the ReLU recipe's network (784-256-128-10, SGD
// momentum 0.9, batch 64) with each activation in turn, on synthetic data of
// Fashion-MNIST's shape (the data do not change the work). Prints one JSON object:
//   {"kernels": …, "threads": T, "relu": samples/s, "tanh": …, "sigmoid": …, "elu": …, "selu": …, "rrelu": …,
//    "prelu": … (one shared slope, as nn.PReLU())}
//   bench_activations THREADS [EPOCHS=2]
#include <gradflow/gradflow.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_common.h"

using namespace gradflow;

int main(int argc, char** argv) {
  gradflow::select_openblas_kernels();  // as the CLI does at start-up
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
  set_num_threads(threads);
  const std::size_t n = 20000;
  const Dataset d = bench::random_fashion_shaped(n);

  std::string json = fmt::format(R"({{"kernels": "{}", "threads": {})", blas_kernels(), threads);
  for (const char* name : {"relu", "tanh", "sigmoid", "elu", "selu", "rrelu", "prelu"}) {
    const LayerSpec act = parse_activation(name);
    Sequential net(784, {nn::dense(256), act, nn::dense(128), act, nn::dense(10)}, 1);
    Loss ce(LossKind::CrossEntropy);
    SGD momentum(SGDOptions{.lr = 0.01, .momentum = 0.9});
    Trainer t(net, ce, momentum, TrainOptions{.epochs = 1, .batch_size = 64, .seed = 1});
    t.fit(d.subset(std::vector<std::uint32_t>(2048, 0)));  // buffers and thread pool
    double best = 0;
    for (std::size_t e = 0; e < epochs; ++e) {
      const auto t0 = std::chrono::steady_clock::now();
      t.fit(d);
      best = std::max(best, static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    json += fmt::format(R"(, "{}": {:.0f})", name, best);
  }
  std::puts((json + "}").c_str());
}
