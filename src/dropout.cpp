#include "gradflow/dropout.h"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

Dropout::Dropout(const LayerSpec& spec, std::size_t features) : Layer(spec, features, features) {
  if (!(spec.p >= 0.0f && spec.p <= 1.0f))
    throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1], got {}", spec.p));
}

void Dropout::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) {
  last_training_ = mode == Mode::Train && spec_.p > 0.0f;
  if (!last_training_) {
    std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
    return;
  }
  scale_.resize(x.rows(), x.cols());
  const float p = spec_.p;
  const float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  float* s = scale_.data();
  const float* a = x.data();
  float* b = y.data();
  for (std::size_t i = 0; i < x.size(); ++i) {
    s[i] = rng.uniform() < p ? 0.0f : keep;
    b[i] = a[i] * s[i];
  }
}

void Dropout::backward_impl(const Tensor&, const Tensor&, const Tensor& dy, Tensor* dx, bool) {
  if (!dx) return;
  if (!last_training_) {
    std::memcpy(dx->data(), dy.data(), dy.size() * sizeof(float));
    return;
  }
  const float* s = scale_.data();
  const float* d = dy.data();
  float* out = dx->data();
  for (std::size_t i = 0; i < dy.size(); ++i) out[i] = d[i] * s[i];
}

}  // namespace gradflow
