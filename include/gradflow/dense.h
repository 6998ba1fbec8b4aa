// Dense (fully connected) layer: y = x Wᵀ + b.
//
//   x [B, I]   W [O, I] ("weight", PyTorch's nn.Linear layout)   b [O] ("bias")   y [B, O]
//   backward:  dW = dyᵀ x   [O, I]     db = Σ_batch dy   [O]     dx = dy W   [B, I]
//
// Each product is split over the compute threads by output units (dx: by input features), one
// single-threaded sgemm per thread; dx is skipped when not asked for (the first layer in
// training), which saves a third of the layer's work. With AVX-512 the forward of a batch of
// 2–64 runs transposed, zᵀ = W xᵀ + b (blas::transposed_forward): xᵀ comes from the Dense before
// (forward_fused's at) or is transposed here.
#pragma once

#include <atomic>
#include <optional>

#include "gradflow/layer.h"

namespace gradflow {

class Dense final : public Layer {
 public:
  Dense(const LayerSpec& spec, std::size_t in_features);
  std::string name() const override;  // "Dense(784→256)"
  std::vector<ParamShape> param_shapes() const override;
  // W from spec().init (Init::Default is treated as glorot_uniform here; Sequential resolves
  // it from the activation that follows), b = 0.
  void init(Rng& rng) override;

  Tensor& weight() { return params_[0]; }
  Tensor* bias() { return spec_.dense().bias ? &params_[1] : nullptr; }
  // Checked tile by tile as dW and db are written.
  std::optional<bool> gradients_finite() const override;

  // This layer followed by a point-wise activation `act` (pointwise::is_pointwise), in one
  // pass: z = x Wᵀ + b and a = act(z), each thread applying the activation to the slice of z it
  // has just computed. z, a: resized to [B, O]. Same values as forward() then act's forward.
  // Without act, z alone (a is not touched). For a Dense that follows: when the forward runs
  // transposed (blas::transposed_forward(B)) and `at` is given, also at = aᵀ (zᵀ without act)
  // [O, B], else `at` is resized to [0, 0]; `xt`, when not null, must be xᵀ [I, B] (as written
  // by the Dense before into its `at`).
  void forward_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a,
                     const Tensor* xt = nullptr, Tensor* at = nullptr);
  // Scratch of the transposed forward: zᵀ, and each compute thread's xᵀ when no layer wrote it.
  struct Scratch {
    Tensor zt;
    std::vector<Tensor> xts;
  };
  // forward_fused in evaluation mode with the caller's scratch: const, the same values.
  void evaluate_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt, Tensor* at,
                      Scratch& scratch) const;
  // The backward of that pair, given da = ∂L/∂a: dz = ∂L/∂z (resized to [B, O]; kept for
  // diagnostics), then the parameter gradients (if trainable) and dx (if not null), with the
  // activation's gradient, db and dW of a slice of units done by the same thread.
  void backward_fused(const Tensor& x, const Tensor& z, const LayerSpec& act, const Tensor& a,
                      const Tensor& da, Tensor& dz, Tensor* dx);

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  void check_fused(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt) const;
  void forward_with(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt,
                    Tensor* at, Scratch& scratch) const;
  void forward_transposed(const Tensor& x, Tensor& z, const LayerSpec* act, Tensor* a, const Tensor* xt, Tensor* at,
                          double work, Scratch& scratch) const;
  Scratch scratch_;  // the training forward's
  // What the last backward found in the gradients it wrote (any thread of it may raise the flag).
  bool grads_checked_ = false;
  std::atomic<bool> non_finite_grads_{false};
  void backward_with(const Tensor& x, const Tensor& z, const LayerSpec* act, const Tensor* a,
                     const Tensor& dy, Tensor* dz, Tensor* dx, bool param_grads);
};

}  // namespace gradflow
