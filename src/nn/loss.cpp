#include "gradflow/loss.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

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

// Σ f(x[i]) in double, in eight running sums (lane i % 8) added at the end: one chain of
// double additions, 4 cycles each, took longer than BCE's three vector passes together. The
// order depends on n alone, so the result does too.
template <class F>
double sum_in_double(const float* x, std::size_t n, F f) {
  double s[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t k = 0; k < 8; ++k) s[k] += f(static_cast<double>(x[i + k]));
  for (std::size_t k = 0; i < n; ++i, ++k) s[k] += f(static_cast<double>(x[i]));
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
}  // namespace

// What a loss's terms function reads and writes: z [B, K], the target ([B, 1] labels or
// [B, K] values, checked), w [B·K] scratch (dz's storage when there is a gradient).
struct LossTerms {
  const Tensor& z;
  const Tensor& target;
  Tensor* dz;
  float* w;
  bool labels() const { return target.cols() == 1; }
};

namespace {
// As PyTorch's log_softmax: loss_r = log Σ_j e^(z_j − m) − (z_y − m), m the row's max. The
// first pass takes each row's max, its z_y − m and the labels' checks; then exp of the whole
// batch in one vector pass, into w and scaled there into the gradient (one exp per element).
double cross_entropy_terms(const LossTerms& t) {
  const std::size_t B = t.z.rows(), K = t.z.cols();
  float* w = t.w;
  double total = 0.0;
  const float inv_b = 1.0f / static_cast<float>(B);
  for (std::size_t r = 0; r < B; ++r) {
    const float* zr = t.z.row(r);
    const float m = *std::max_element(zr, zr + K);
    for (std::size_t j = 0; j < K; ++j) w[r * K + j] = zr[j] - m;
    total -= static_cast<double>(w[r * K + label_at(t.target, r, K)]);
  }
  vmath::exp(w, w, B * K);
  for (std::size_t r = 0; r < B; ++r) {
    const float* e = w + r * K;
    float sum = 0.0f;
    for (std::size_t j = 0; j < K; ++j) sum += e[j];
    total += static_cast<double>(std::log(sum));
    if (t.dz) {
      float* g = t.dz->row(r);
      const float inv_sum = inv_b / sum;
      for (std::size_t j = 0; j < K; ++j) g[j] *= inv_sum;
      g[static_cast<std::size_t>(t.target(r, 0))] -= inv_b;  // a label checked in the first pass
    }
  }
  return total / static_cast<double>(B);
}

// Row r's target for output j in BCE and MSE: the value given, or one-hot of the row's label.
struct RowTarget {
  const float* values;
  std::size_t label;
  float operator[](std::size_t j) const { return values ? values[j] : (j == label ? 1.0f : 0.0f); }
};
RowTarget row_target(const LossTerms& t, std::size_t r) {
  const std::size_t K = t.z.cols();
  return t.labels() && K > 1 ? RowTarget{nullptr, label_at(t.target, r, K)} : RowTarget{t.target.row(r), 0};
}

// In vector passes (64×784 logits took 0.5 ms in scalar expf/log1pf calls): w = e^−|z| and
// log1p(w) for the loss, then w = e^−z for dz = σ(z) − t with σ(z) = 1/(1 + e^−z), which is
// how PyTorch's sigmoid (and ours, bit for bit) computes it.
double bce_terms(const LossTerms& t) {
  const std::size_t B = t.z.rows(), K = t.z.cols(), n = B * K;
  const float* zd = t.z.data();
  float* w = t.w;
  for (std::size_t i = 0; i < n; ++i) w[i] = -std::fabs(zd[i]);
  vmath::exp(w, w, n);
  vmath::log1p(w, w, n);
  for (std::size_t r = 0; r < B; ++r) {
    const RowTarget y = row_target(t, r);
    for (std::size_t j = 0; j < K; ++j) {
      const float v = zd[r * K + j];
      w[r * K + j] += std::max(v, 0.0f) - v * y[j];
    }
  }
  const double total = sum_in_double(w, n, [](double v) { return v; });
  if (t.dz) {
    const float inv_n = 1.0f / static_cast<float>(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = -zd[i];
    vmath::exp(w, w, n);
    for (std::size_t r = 0; r < B; ++r) {
      const RowTarget y = row_target(t, r);
      for (std::size_t j = 0; j < K; ++j) w[r * K + j] = (1.0f / (1.0f + w[r * K + j]) - y[j]) * inv_n;
    }
  }
  return total / static_cast<double>(n);
}

double mse_terms(const LossTerms& t) {
  const std::size_t B = t.z.rows(), K = t.z.cols(), n = B * K;
  const float* zd = t.z.data();
  float* w = t.w;
  for (std::size_t r = 0; r < B; ++r) {
    const RowTarget y = row_target(t, r);
    for (std::size_t j = 0; j < K; ++j) w[r * K + j] = zd[r * K + j] - y[j];
  }
  const double total = sum_in_double(w, n, [](double d) { return d * d; });
  if (t.dz) {
    const float inv_n = 1.0f / static_cast<float>(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 2.0f * w[i] * inv_n;
  }
  return total / static_cast<double>(n);
}

// In LossKind order.
constexpr std::array<LossKindInfo, 3> kLosses = {{
    {LossKind::CrossEntropy, "cross_entropy", "ce, categorical_crossentropy, sparse_categorical_crossentropy",
     "CrossEntropyLoss", LayerKind::Softmax, true, cross_entropy_terms},
    {LossKind::BinaryCrossEntropy, "bce", "binary_cross_entropy, binary_crossentropy", "BCEWithLogitsLoss",
     LayerKind::Sigmoid, false, bce_terms},
    {LossKind::MeanSquaredError, "mse", "mean_squared_error", "MSELoss", std::nullopt, false, mse_terms},
}};
}  // namespace

std::span<const LossKindInfo> loss_kinds() { return kLosses; }
const LossKindInfo& loss_kind(LossKind kind) { return kLosses[static_cast<std::size_t>(kind)]; }

std::string loss_names(std::string_view separator) {
  std::string names;
  for (const LossKindInfo& l : kLosses) names += fmt::format("{}{}", names.empty() ? "" : separator, l.name);
  return names;
}

LossKind parse_loss(std::string_view name) {
  for (const LossKindInfo& l : kLosses) {
    if (l.name == name) return l.kind;
    for (std::string_view rest = l.aliases; !rest.empty();) {
      const std::size_t comma = rest.find(", ");
      if (rest.substr(0, comma) == name) return l.kind;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
  }
  throw std::invalid_argument(fmt::format("unknown loss '{}' (expected {})", detail::quote(name), loss_names(", ")));
}

std::string_view Loss::name() const { return loss_kind(kind_).name; }

std::optional<LayerKind> Loss::fused_activation() const { return loss_kind(kind_).fused; }

std::size_t predicted_class(const float* z, std::size_t k) {
  if (k == 1) return z[0] > 0.0f ? 1 : 0;
  return static_cast<std::size_t>(std::max_element(z, z + k) - z);
}

double Loss::forward_backward(const Tensor& z, const Tensor& target, Tensor* dz) const {
  const std::size_t B = z.rows(), K = z.cols();
  const bool labels = target.cols() == 1, labels_only = loss_kind(kind_).labels_only;
  if (target.rows() != B || (target.cols() != K && !labels) || (labels_only && !labels))
    throw std::invalid_argument(fmt::format("{} loss: target has shape {}, expected [{}, 1] class labels{}", name(),
                                            target.shape_str(), B,
                                            labels_only ? "" : fmt::format(" or [{}, {}]", B, K)));
  if (B == 0) throw std::invalid_argument(fmt::format("{} loss: empty batch", name()));
  if (dz) dz->resize(B, K);
  // Every loss computes its per-element terms in vector passes over w: dz's storage when there
  // is a gradient to write (overwritten by it afterwards), else scratch.
  std::vector<float> scratch(dz ? 0 : B * K);
  return loss_kind(kind_).terms(LossTerms{z, target, dz, dz ? dz->data() : scratch.data()});
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

}  // namespace gradflow
