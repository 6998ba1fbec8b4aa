// dlib's side of bench/compare (its DNN module, Debian's libdlib-dev 19.24, products through
// the system BLAS — OpenBLAS): the same models, data, batch sizes and timing rules as
// bench_compare.cpp, trained the way dlib's examples train, with dnn_trainer::train_one_step.
//   dlib_peer THREADS [EPOCHS=2]   -> one JSON object like bench_compare's
// Where dlib cannot match the recipe exactly:
//   - its trainer runs each step on a thread of its own, beside the caller preparing the next
//     batch (the caller's work is light here); OpenBLAS's threads (OPENBLAS_NUM_THREADS) run the products;
//   - its sgd is v = momentum·v − lr·(g + weight_decay·w), PyTorch's v = momentum·v + g then
//     w −= lr·v: the same steps once lr is constant (weight decay 0 here);
//   - bn_fc normalizes per unit as BatchNorm1d does; its running statistics use dlib's own
//     averaging (not timed differently); dropout is dlib's dropout_ (rate 0.2).
#include <dlib/dnn.h>

#include <gradflow/gradflow.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "bench_common.h"

namespace {

using Sample = dlib::matrix<float, 0, 1>;
using ReluNet = dlib::loss_multiclass_log<
    dlib::fc<10, dlib::relu<dlib::fc<128, dlib::relu<dlib::fc<256, dlib::input<Sample>>>>>>>;
using BnNet = dlib::loss_multiclass_log<dlib::fc<
    10, dlib::dropout<dlib::relu<dlib::bn_fc<dlib::fc<
            256, dlib::dropout<dlib::relu<dlib::bn_fc<dlib::fc<512, dlib::input<Sample>>>>>>>>>>>;

template <class Net, class Solver>
double train_rate(Net& net, const Solver& solver, double lr, const std::vector<Sample>& x,
                  const std::vector<unsigned long>& y, std::size_t batch, std::size_t epochs) {
  dlib::dnn_trainer<Net, Solver> trainer(net, solver);
  trainer.set_learning_rate(lr);
  trainer.set_mini_batch_size(batch);
  trainer.set_iterations_without_progress_threshold(1u << 30);  // no automatic learning-rate drops
  std::mt19937 rng(1);
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<Sample> xb;
  std::vector<unsigned long> yb;
  const auto epoch = [&](std::size_t n) {
    std::shuffle(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), rng);
    for (std::size_t i = 0; i < n; i += batch) {
      xb.clear();
      yb.clear();
      for (std::size_t j = i; j < std::min(i + batch, n); ++j) {
        xb.push_back(x[order[j]]);
        yb.push_back(y[order[j]]);
      }
      trainer.train_one_step(xb, yb);
    }
    trainer.get_net();  // waits for the trainer's thread to finish the last step
  };
  epoch(2048);  // warm-up
  return gradflow::bench::best_rate(epochs, x.size(), [&] { epoch(x.size()); });
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
  const gradflow::Dataset d = gradflow::bench::fashion_or_synthetic();  // reading is not timed
  std::vector<Sample> x(d.size(), Sample(784));
  std::vector<unsigned long> y(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    std::copy(d.x.row(i), d.x.row(i) + 784, x[i].begin());
    y[i] = static_cast<unsigned long>(d.y[i]);
  }
  ReluNet relu;
  const double train_relu = train_rate(relu, dlib::sgd(0, 0.9), 0.01, x, y, 64, epochs);
  BnNet bn;
  dlib::layer<2>(bn).layer_details() = dlib::dropout_(0.2f);  // layer 0 is the loss, 1 the last fc
  dlib::layer<6>(bn).layer_details() = dlib::dropout_(0.2f);
  const double train_bn = train_rate(bn, dlib::adam(0, 0.9, 0.999), 1e-3, x, y, 128, epochs);

  // Inference: the trained ReLU network's class scores (the loss layer's argmax aside, dlib
  // evaluates the layers below it: what a prediction costs).
  auto& scores = relu.subnet();
  dlib::resizable_tensor one, big;
  relu.to_tensor(x.begin(), x.begin() + 1, one);
  relu.to_tensor(x.begin(), x.begin() + 1024, big);
  const auto inference = gradflow::bench::time_inference([&] { scores.forward(one); }, [&] { scores.forward(big); });
  std::printf("{\"threads\": %d, \"data\": \"%s\", \"train_relu\": %.1f, \"train_bn\": %.1f, \"latency_us\": %.2f, "
              "\"infer_1024\": %.1f}\n",
              threads, d.name.c_str(), train_relu, train_bn, inference.latency_us, inference.infer_1024);
  return 0;
}
