#include "gradflow/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "core/vmath.h"

namespace gradflow {

namespace {
// Validated class label of row r of a [B, 1] target.
std::size_t label_at(const Tensor& target, std::size_t r, std::size_t k) {
  const float v = target(r, 0);
  if (!(v >= 0.0f) || v >= static_cast<float>(k) || v != std::floor(v))
    throw std::invalid_argument(
        fmt::format("target label {} in row {} is not a class index in [0, {})", v, r, k));
  return static_cast<std::size_t>(v);
}
}  // namespace

std::string_view Loss::name() const {
  switch (kind_) {
    case LossKind::CrossEntropy: return "cross_entropy";
    case LossKind::BinaryCrossEntropy: return "bce";
    case LossKind::MeanSquaredError: return "mse";
  }
  return "?";
}

std::optional<LayerKind> Loss::fused_activation() const {
  if (kind_ == LossKind::CrossEntropy) return LayerKind::Softmax;
  if (kind_ == LossKind::BinaryCrossEntropy) return LayerKind::Sigmoid;
  return std::nullopt;
}

std::size_t predicted_class(const float* z, std::size_t k) {
  if (k == 1) return z[0] > 0.0f ? 1 : 0;
  return static_cast<std::size_t>(std::max_element(z, z + k) - z);
}

double Loss::forward_backward(const Tensor& z, const Tensor& target, Tensor* dz) const {
  const std::size_t B = z.rows(), K = z.cols();
  const bool labels = target.cols() == 1;
  if (target.rows() != B || (target.cols() != K && !labels) ||
      (kind_ == LossKind::CrossEntropy && !labels))
    throw std::invalid_argument(fmt::format(
        "{} loss: target has shape {}, expected [{}, 1] class labels{}", name(),
        target.shape_str(), B, kind_ == LossKind::CrossEntropy ? "" : fmt::format(" or [{}, {}]", B, K)));
  if (B == 0) throw std::invalid_argument(fmt::format("{} loss: empty batch", name()));
  if (dz) dz->resize(B, K);

  double total = 0.0;
  if (kind_ == LossKind::CrossEntropy) {
    const float inv_b = 1.0f / static_cast<float>(B);
    // As PyTorch's log_softmax: loss_r = log Σ_j e^(z_j − m) − (z_y − m), m the row's max. The
    // first pass takes each row's max, its z_y − m and the labels' checks; then exp of the whole
    // batch in one vector pass, written where the gradient goes and scaled there afterwards
    // (one exp per element), or into scratch when there is no gradient to write.
    std::vector<float> scratch(dz ? 0 : B * K);
    float* exps = dz ? dz->data() : scratch.data();
    for (std::size_t r = 0; r < B; ++r) {
      const float* zr = z.row(r);
      const float m = *std::max_element(zr, zr + K);
      for (std::size_t j = 0; j < K; ++j) exps[r * K + j] = zr[j] - m;
      total -= static_cast<double>(exps[r * K + label_at(target, r, K)]);
    }
    vmath::exp(exps, exps, B * K);
    for (std::size_t r = 0; r < B; ++r) {
      const float* e = exps + r * K;
      float sum = 0.0f;
      for (std::size_t j = 0; j < K; ++j) sum += e[j];
      total += static_cast<double>(std::log(sum));
      if (dz) {
        float* g = dz->row(r);
        const float inv_sum = inv_b / sum;
        for (std::size_t j = 0; j < K; ++j) g[j] *= inv_sum;
        g[static_cast<std::size_t>(target(r, 0))] -= inv_b;  // a label checked in the first pass
      }
    }
    return total / static_cast<double>(B);
  }

  // BCE and MSE: element-wise over [B, K]; targets are values, or one-hot of the labels.
  const float inv_n = 1.0f / static_cast<float>(B * K);
  for (std::size_t r = 0; r < B; ++r) {
    const float* zr = z.row(r);
    std::size_t y = 0;
    if (labels && K > 1) y = label_at(target, r, K);
    float* g = dz ? dz->row(r) : nullptr;
    for (std::size_t j = 0; j < K; ++j) {
      const float t = labels ? (K > 1 ? (j == y ? 1.0f : 0.0f) : target(r, 0)) : target(r, j);
      const float v = zr[j];
      if (kind_ == LossKind::BinaryCrossEntropy) {
        total += static_cast<double>(std::max(v, 0.0f) - v * t + std::log1p(std::exp(-std::fabs(v))));
        if (g) g[j] = (1.0f / (1.0f + std::exp(-v)) - t) * inv_n;
      } else {
        const float d = v - t;
        total += static_cast<double>(d) * d;
        if (g) g[j] = 2.0f * d * inv_n;
      }
    }
  }
  return total / static_cast<double>(B * K);
}

bool Loss::has_accuracy(std::size_t outputs, std::size_t target_cols) const {
  if (target_cols == 1 && outputs > 1) return true;
  return kind_ == LossKind::BinaryCrossEntropy && outputs == 1 && target_cols == 1;
}

std::size_t Loss::count_correct(const Tensor& z, const Tensor& target) const {
  std::size_t correct = 0;
  for (std::size_t r = 0; r < z.rows(); ++r) {
    const float t = target(r, 0);
    const std::size_t want = z.cols() == 1 ? (t > 0.5f ? 1 : 0) : static_cast<std::size_t>(t);
    correct += predicted_class(z.row(r), z.cols()) == want;
  }
  return correct;
}

LossKind parse_loss(std::string_view name) {
  if (name == "cross_entropy" || name == "ce" || name == "categorical_crossentropy" ||
      name == "sparse_categorical_crossentropy")
    return LossKind::CrossEntropy;
  if (name == "bce" || name == "binary_cross_entropy" || name == "binary_crossentropy")
    return LossKind::BinaryCrossEntropy;
  if (name == "mse" || name == "mean_squared_error") return LossKind::MeanSquaredError;
  throw std::invalid_argument(
      fmt::format("unknown loss '{}' (expected cross_entropy, bce or mse)", name));
}

}  // namespace gradflow
