#include "gradflow/optimizer.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

SGD::SGD(double lr) : Optimizer(lr) {
  if (!(lr > 0.0) || !std::isfinite(lr))
    throw std::invalid_argument(fmt::format("SGD: learning rate must be positive, got {}", lr));
}

void SGD::step(Sequential& model) {
  const float lr = static_cast<float>(lr_);
  float* p = model.parameters().data();
  const float* g = model.gradients().data();
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    if (!l.trainable()) continue;
    const std::size_t off = model.param_offset(i), n = l.num_params();
    for (std::size_t k = off; k < off + n; ++k) p[k] -= lr * g[k];
  }
}

}  // namespace gradflow
