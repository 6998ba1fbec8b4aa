#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "studies/studies.h"

namespace gradflow::runs::study {

Dataset fashion(std::size_t n, bool train) {
  if (!std::filesystem::is_directory(idx::kFashionMnistDir))
    throw std::runtime_error(fmt::format("this study needs Fashion-MNIST in {} (Debian's dataset-fashion-mnist)",
                                         idx::kFashionMnistDir));
  Dataset d = idx::fashion_mnist(idx::kFashionMnistDir, train);
  if (n == 0 || n >= d.size()) return d;
  std::vector<std::uint32_t> first(n);
  std::iota(first.begin(), first.end(), 0u);
  return d.subset(first);
}

LayerStats probe(Sequential& m, const Loss& loss, const Dataset& data, std::size_t n) {
  n = std::min(n, data.size());
  const Tensor x = Tensor::view(const_cast<float*>(data.x.row(0)), n, data.x.cols());
  const Tensor y = Tensor::view(const_cast<float*>(data.y.row(0)), n, data.y.cols());
  const std::size_t head = loss_input_layers(m, loss);
  const Tensor& z = m.forward(x, Mode::Train, head);
  Tensor dz;
  loss.forward_backward(z, y, &dz);
  m.backward(dz, head);
  LayerStats s;
  for (std::size_t i = 0; i < head; ++i) {
    const LayerRecord r = layer_record(m, i);
    s.out_mean.push_back(r.out_mean);
    s.out_std.push_back(r.out_std);
    s.saturated.push_back(r.saturated);
    // Dead within this one batch, for every activation (Diagnostics counts over many steps, and
    // for the ReLU family only): the studies compare ReLU with the kinds that cannot die.
    const Tensor& out = m.output(i);
    if (layer_kind(r.kind).traits & kActivation) {
      std::size_t dead = 0;
      for (std::size_t c = 0; c < out.cols(); ++c) {
        bool alive = false;
        for (std::size_t row = 0; row < out.rows() && !alive; ++row) alive = out(row, c) != 0.0f;
        dead += !alive;
      }
      s.dead.push_back(static_cast<double>(dead) / static_cast<double>(out.cols()));
    } else {
      s.dead.push_back(NAN);
    }
    if (r.kind == LayerKind::Dense) {
      s.grad_norm.push_back(r.grad_norm);
      s.dense.push_back(i);
    }
  }
  return s;
}

Recipe recipe(std::size_t epochs, std::size_t batch, std::uint64_t seed) {
  Recipe c;
  c.epochs = epochs;
  c.batch_size = batch;
  c.seed = seed;
  c.schedule = std::string("none");
  c.diagnostics_every = std::string("0");
  return c;
}

std::vector<EpochMetrics> fit(Sequential& model, LossKind loss_kind, Optimizer& optimizer, const Dataset& train,
                              const Dataset* test, const Recipe& recipe) {
  const Loss loss(loss_kind);
  TrainingRun run = build_training(recipe, model, loss, optimizer, train);
  // A full study trains for minutes: say what each fit took, on stderr (the table goes to stdout).
  const auto start = std::chrono::steady_clock::now();
  auto metrics = run.trainer->fit(train, test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fflush(stdout);
  fmt::print(stderr, "  trained {} layers, {} epochs on {} samples: {:.1f} s\n", model.size(), metrics.size(),
             train.size(), seconds);
  return metrics;
}

std::string num(double v, int digits) {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : "inf";
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5)) return fmt::format("{:.{}e}", v, digits - 1);
  return fmt::format("{:.{}g}", v, digits);
}

std::string pct(double v) { return std::isnan(v) ? "-" : fmt::format("{:.2f}%", 100 * v); }

std::vector<double> range(std::size_t n, double first) {
  std::vector<double> r(n);
  for (std::size_t i = 0; i < n; ++i) r[i] = first + static_cast<double>(i);
  return r;
}

}  // namespace gradflow::runs::study
