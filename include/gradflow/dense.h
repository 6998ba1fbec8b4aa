// Dense (fully connected) layer: y = x Wᵀ + b.
//
//   x [B, I]   W [O, I] ("weight", PyTorch's nn.Linear layout)   b [O] ("bias")   y [B, O]
//   backward:  dW = dyᵀ x   [O, I]     db = Σ_batch dy   [O]     dx = dy W   [B, I]
//
// All three products are single sgemm calls; dx is skipped when not asked for (the first
// layer in training), which saves a third of the layer's work.
#pragma once

#include "gradflow/layer.h"

namespace gradflow {

class Dense final : public Layer {
 public:
  Dense(const LayerSpec& spec, std::size_t in_features);
  std::vector<ParamShape> param_shapes() const override;
  // W from spec().init (Init::Default is treated as glorot_uniform here; Sequential resolves
  // it from the activation that follows), b = 0.
  void init(Rng& rng) override;

  Tensor& weight() { return params_[0]; }
  Tensor* bias() { return spec_.bias ? &params_[1] : nullptr; }

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;
};

}  // namespace gradflow
