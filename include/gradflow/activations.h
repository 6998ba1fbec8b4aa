// Activation layers: element-wise y = f(x) with O = I, except Softmax (row-wise).
// Each forward sits next to its backward; definitions follow PyTorch 1.13.
//
//   Identity    y = x                                  dx = dy
//   Sigmoid     y = 1 / (1 + e^-x)                     dx = dy · y (1 − y)
//   Tanh        y = tanh x                             dx = dy · (1 − y²)
//   ReLU        y = max(x, 0)                          dx = dy · [y > 0]
//   LeakyReLU   y = x > 0 ? x : s·x   (s = 0.01)       dx = dy · (x > 0 ? 1 : s)
//   RReLU       y = x > 0 ? x : r·x                    dx = dy · (x > 0 ? 1 : r)   (as PyTorch, r at 0 too)
//               training: r ~ U(lower, upper) per element, a hash of the element's index
//               under one key per call from the model's Rng (as Dropout's mask);
//               evaluation: r = (lower + upper) / 2
//   PReLU       y = x > 0 ? x : a·x   a learned ("weight", [1] or [I], initial 0.25)
//               dx = dy · (x > 0 ? 1 : a)     da = Σ dy · (x > 0 ? 0 : x)
//   ELU         y = x > 0 ? x : α(eˣ − 1)   (α = 1)    dx = dy · (x > 0 ? 1 : y + α)
//   SELU        y = λ·(x > 0 ? x : α(eˣ − 1))          dx = dy · (x > 0 ? λ : y + λα)
//               λ = 1.0507009873554805, α = 1.6732632423543772 (Klambauer et al. 2017)
//   Softmax     y_j = e^(x_j − m) / Σ_k e^(x_k − m), m = max_k x_k (row-wise)
//               dx_j = y_j (dy_j − Σ_k dy_k y_k)
//
// eˣ, eˣ − 1 and tanh come from SLEEF's vector functions (≤ 1 ulp), as in PyTorch's CPU kernels.
// Where this differs from PyTorch: ELU/SELU use expm1 for eˣ − 1 where PyTorch computes
// exp(x) − 1, which loses relative precision near 0 (up to ~6e-8 absolute there).
#pragma once

#include "gradflow/layer.h"

namespace gradflow {

// Shared base: O = I and no parameters unless the subclass declares them.
class Activation : public Layer {
 public:
  Activation(const LayerSpec& spec, std::size_t in_features) : Layer(spec, in_features, in_features) {}
};

// Every kPointwise kind (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU): y depends on x
// element by element, so the work splits over threads by columns, and inside a Sequential a
// Dense layer applies the activation right after its product (see Dense::forward_fused). The
// kernels are the ones registered with the kind.
class PointwiseActivation final : public Activation {
 public:
  using Activation::Activation;

 protected:
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;
};

class Softmax final : public Activation {
 public:
  using Activation::Activation;

 protected:
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;
};

class RReLU final : public Activation {
 public:
  using Activation::Activation;

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  Tensor slope_;  // [B, I]: the slope each element saw in the last forward
};

class PReLU final : public Activation {
 public:
  using Activation::Activation;
  std::vector<ParamShape> param_shapes() const override;
  void init(Rng& rng) override;

 protected:
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  Tensor column_sums_;  // [1, I]: a shared slope's gradient, per column, before the columns are added
};

inline constexpr double kSeluScale = 1.0507009873554805;
inline constexpr double kSeluAlpha = 1.6732632423543772;

}  // namespace gradflow
