// Training throughput on synthetic Fashion-MNIST-shaped data: samples/s and achieved GFLOP/s.
//
//   bench_train [threads=1] [epochs=3] [samples=20000] [batch=64] [recipe=relu] [diag]
//
// With "diag", per-layer diagnostics are recorded every 50 steps (gradflow train's default),
// to measure what seeing into training costs.
//   relu: 784-256-128-10 ReLU MLP, plain SGD
//   bn:   784-512-256-10, BatchNorm before each ReLU, dropout 0.2, plain SGD
//
// The machine's sgemm rate is measured in the same process before and after (bench/sgemm_rate.h),
// and the training rate is given as a share of the better of the two.
// FLOPs per sample per step: forward 2·Σ in·out, backward the same for dW plus dx for every
// layer but the first (the input gradient is not computed) — about 1.0 MFLOP here.
#include <gradflow/gradflow.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_common.h"
#include "sgemm_rate.h"

int main(int argc, char** argv) {
  gradflow::select_openblas_kernels();  // as the CLI does at start-up
  using namespace gradflow;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 3;
  const std::size_t n = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 20000;
  const std::size_t batch = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 64;
  const std::string recipe = argc > 5 ? argv[5] : "relu";
  if (recipe != "relu" && recipe != "bn") {
    std::fprintf(stderr, "bench_train: unknown recipe '%s' (expected relu or bn)\n", recipe.c_str());
    return 2;
  }
  const bool bn = recipe == "bn";
  const std::size_t h1 = bn ? 512 : 256, h2 = bn ? 256 : 128;
  set_num_threads(threads);

  const Dataset d = bench::random_fashion_shaped(n);

  std::vector<LayerSpec> layers = {nn::dense(h1), nn::relu(), nn::dense(h2), nn::relu(), nn::dense(10)};
  if (bn) layers = {nn::dense(h1), nn::batch_norm(), nn::relu(), nn::dropout(0.2f),
                    nn::dense(h2), nn::batch_norm(), nn::relu(), nn::dropout(0.2f), nn::dense(10)};
  Sequential net(784, layers, 1);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.01);
  TrainOptions o{.epochs = 1, .batch_size = batch};
  Trainer trainer(net, ce, sgd, o);
  const bool diag = argc > 6 && std::string(argv[6]) == "diag";
  Diagnostics diagnostics(DiagnosticsOptions{.every = 50});
  if (diag) trainer.add_callback(diagnostics);
  trainer.fit(d);  // warm-up epoch: buffers, threads, caches
  const double peak_before = bench::sgemm_rate(threads).best();

  const double flops_per_sample =
      2.0 * 2 * (784.0 * h1 + h1 * h2 + h2 * 10) + 2.0 * (h1 * h2 + h2 * 10);
  double best = 0;
  const double steps = static_cast<double>(trainer.steps_per_epoch(n));
  for (std::size_t e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    const EpochMetrics::Times t = trainer.fit(d).back().times;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = static_cast<double>(n) / s;
    best = std::max(best, rate);
    const auto us = [&](double seconds) { return seconds / steps * 1e6; };
    std::printf("epoch %zu: %.0f samples/s, %.1f GFLOP/s; per step %.1f µs: gather %.1f, forward %.1f, "
                "backward %.1f, update %.1f\n",
                e + 1, rate, rate * flops_per_sample * 1e-9, us(s), us(t.gather), us(t.forward),
                us(t.backward), us(t.update));
  }
  const double gflops = best * flops_per_sample * 1e-9;
  std::printf("gradflow 784-%zu-%zu-10 %s%s, batch %zu, %d thread(s), sgemm %s: best %.0f samples/s, %.1f GFLOP/s\n",
              h1, h2, bn ? "BN+ReLU+dropout" : "ReLU", diag ? " with diagnostics" : "", batch, threads, blas_kernels(), best, gflops);
  const double peak = std::max(peak_before, bench::sgemm_rate(threads).best());
  std::printf("= %.0f%% of this machine's 1024³ sgemm rate with %d thread(s), best measured before and after: %.1f GFLOP/s\n",
              100.0 * gflops / peak, threads, peak);
}
