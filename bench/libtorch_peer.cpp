// LibTorch's side of bench/compare (PyTorch's C++ API, Debian's libtorch-dev 1.13): the same
// models, data, batch sizes, update rules and timing rules as bench_compare.cpp and
// torch_peer.py, in the plainest C++ loop (tensors indexed directly, no DataLoader).
//   libtorch_peer THREADS [EPOCHS=2]   -> one JSON object like bench_compare's
// Run with OMP_NUM_THREADS=THREADS OMP_WAIT_POLICY=PASSIVE (bench/compare does): without the
// passive policy its two threads spin against each other and collapse to ~1.4k samples/s.
#include <torch/torch.h>

#include <gradflow/gradflow.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_common.h"

namespace {

template <class Optimizer>
double train_rate(torch::nn::Sequential& model, Optimizer& opt, const torch::Tensor& x, const torch::Tensor& y,
                  std::int64_t batch, std::size_t epochs) {
  model->train();
  const auto epoch = [&](const torch::Tensor& xs, const torch::Tensor& ys) {
    const torch::Tensor perm = torch::randperm(xs.size(0), torch::kLong);
    for (std::int64_t i = 0; i < xs.size(0); i += batch) {
      const torch::Tensor idx = perm.slice(0, i, std::min(i + batch, xs.size(0)));
      opt.zero_grad();
      torch::nn::functional::cross_entropy(model->forward(xs.index_select(0, idx)), ys.index_select(0, idx)).backward();
      opt.step();
    }
  };
  epoch(x.slice(0, 0, 2048), y.slice(0, 0, 2048));  // warm-up
  return gradflow::bench::best_rate(epochs, static_cast<std::size_t>(x.size(0)), [&] { epoch(x, y); });
}

}  // namespace

int main(int argc, char** argv) {
  namespace nn = torch::nn;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  const gradflow::Dataset d = gradflow::bench::fashion_or_synthetic();  // reading is not timed
  const auto n = static_cast<std::int64_t>(d.size());
  const torch::Tensor x = torch::from_blob(const_cast<float*>(d.x.data()), {n, 784}, torch::kFloat).clone();
  const torch::Tensor y = torch::from_blob(const_cast<float*>(d.y.data()), {n}, torch::kFloat).to(torch::kLong);

  nn::Sequential relu(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128), nn::ReLU(), nn::Linear(128, 10));
  torch::optim::SGD sgd(relu->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const double train_relu = train_rate(relu, sgd, x, y, 64, epochs);
  nn::Sequential bn(nn::Linear(784, 512), nn::BatchNorm1d(512), nn::ReLU(), nn::Dropout(0.2), nn::Linear(512, 256),
                    nn::BatchNorm1d(256), nn::ReLU(), nn::Dropout(0.2), nn::Linear(256, 10));
  torch::optim::Adam adam(bn->parameters(), torch::optim::AdamOptions(1e-3));
  const double train_bn = train_rate(bn, adam, x, y, 128, epochs);

  relu->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor one = x.slice(0, 0, 1).clone(), big = x.slice(0, 0, 1024).clone();
  const auto inference = gradflow::bench::time_inference([&] { relu->forward(one); }, [&] { relu->forward(big); });
  std::printf("{\"threads\": %d, \"data\": \"%s\", \"train_relu\": %.1f, \"train_bn\": %.1f, \"latency_us\": %.2f, "
              "\"infer_1024\": %.1f}\n",
              threads, d.name.c_str(), train_relu, train_bn, inference.latency_us, inference.infer_1024);
  return 0;
}
