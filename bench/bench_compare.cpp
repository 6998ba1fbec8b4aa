// gradflow's side of bench/compare: prints one JSON object with
//   train_relu   samples/s, 784-256-128-10 ReLU, SGD momentum 0.9, batch 64, reshuffled each epoch
//   train_bn     samples/s, 784-512-256-10 BN+ReLU+dropout 0.2, Adam 1e-3, batch 128
//   latency_us   median µs of a batch-1 forward of the ReLU model (evaluation mode)
//   infer_1024   samples/s of batch-1024 forwards of the ReLU model
// on Fashion-MNIST when installed (else synthetic data of its shape).
//   bench_compare THREADS [EPOCHS=2]
#include <gradflow/gradflow.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_common.h"

using namespace gradflow;

namespace {
double train_rate(Sequential& net, Optimizer& opt, const Dataset& d, std::size_t batch, std::size_t epochs) {
  Loss ce(LossKind::CrossEntropy);
  TrainOptions o{.epochs = 1, .batch_size = batch, .seed = 1};
  Trainer t(net, ce, opt, o);
  Dataset warm = d.subset(std::vector<std::uint32_t>(2048, 0));
  t.fit(warm);  // buffers and thread pool
  return bench::best_rate(epochs, d.size(), [&] { t.fit(d); });
}
}  // namespace

int main(int argc, char** argv) {
  gradflow::select_openblas_kernels();  // as the CLI does at start-up
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
  set_num_threads(threads);
  const Dataset d = bench::fashion_or_synthetic();

  Sequential relu(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(10)}, 1);
  SGD momentum(SGDOptions{.lr = 0.01, .momentum = 0.9});
  const double train_relu = train_rate(relu, momentum, d, 64, epochs);

  Sequential bn(784, {nn::dense(512), nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(256),
                      nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(10)},
                1);
  Adam adam(AdamOptions{.lr = 1e-3});
  const double train_bn = train_rate(bn, adam, d, 128, epochs);

  // Inference with the trained ReLU model in evaluation mode.
  Tensor one(1, 784), big(1024, 784);
  std::copy(d.x.row(0), d.x.row(1), one.data());
  std::copy(d.x.row(0), d.x.row(1024), big.data());
  const bench::InferenceTimes inference =
      bench::time_inference([&] { relu.forward(one, Mode::Eval); }, [&] { relu.forward(big, Mode::Eval); });
  std::printf("{\"threads\": %d, \"data\": \"%s\", \"kernels\": \"%s\", \"train_relu\": %.1f, \"train_bn\": %.1f, "
              "\"latency_us\": %.2f, \"infer_1024\": %.1f}\n",
              threads, d.name.c_str(), blas_kernels(), train_relu, train_bn, inference.latency_us, inference.infer_1024);
  return 0;
}
