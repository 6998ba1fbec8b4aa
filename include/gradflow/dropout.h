// Inverted dropout (Srivastava et al. 2014), as torch.nn.Dropout.
//
//   training:   m ~ Bernoulli(1 − p) per element, y = x·m / (1 − p)   (E[y] = x)
//               dx = dy·m / (1 − p)
//   evaluation: y = x, dx = dy
// The mask is a hash of each element's index and a key drawn from the model's Rng per call, so
// a seed fixes it (and the thread count does not change it). p = 1 zeroes everything.
#pragma once

#include <cstdint>

#include "gradflow/layer.h"

namespace gradflow {

class Dropout final : public Layer {
 public:
  Dropout(const LayerSpec& spec, std::size_t features);
  std::string name() const override;  // "Dropout(p=0.2)"

  // forward() and backward() in parts, for a Dropout that runs in the passes of the layers
  // before it (BatchNorm::forward_fused): begin() does what forward() does before the
  // element-wise work (it draws the call's mask key from rng, as forward() would), then apply()
  // and gradient() compute y and dx on the columns [c0, c1) of the rows [r0, r1); y and dx are
  // sized by the caller. The same values as forward() and backward().
  void begin(const Tensor& x, Mode mode, Rng& rng);
  void apply(const Tensor& x, Tensor& y, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1);
  void gradient(const Tensor& dy, Tensor& dx, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) const;

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  // [B, F] of the last training forward: 1 where the element was kept (bytes, not the factor as
  // floats: a quarter of the memory traffic, the same values).
  std::vector<std::uint8_t> kept_;
  std::size_t cols_ = 0;
  bool last_training_ = false;
  // The last training forward's mask: element i is dropped when hash(i, key) < threshold.
  std::uint32_t key1_ = 0, key2_ = 0, threshold_ = 0;
  float keep_ = 1;  // 1/(1 − p), the kept elements' factor
};

}  // namespace gradflow
