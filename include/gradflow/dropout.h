// Inverted dropout (Srivastava et al. 2014), as torch.nn.Dropout.
//
//   training:   m ~ Bernoulli(1 − p) per element, y = x·m / (1 − p)   (E[y] = x)
//               dx = dy·m / (1 − p)
//   evaluation: y = x, dx = dy
// The mask is a hash of each element's index and a key drawn from the model's Rng per call, so
// a seed fixes it (and the thread count does not change it). p = 1 zeroes everything.
#pragma once

#include "gradflow/layer.h"

namespace gradflow {

class Dropout final : public Layer {
 public:
  Dropout(const LayerSpec& spec, std::size_t features);
  std::string name() const override;  // "Dropout(p=0.2)"

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  Tensor scale_;  // [B, F]: 0 or 1/(1 − p) per element in the last training forward
  bool last_training_ = false;
};

}  // namespace gradflow
