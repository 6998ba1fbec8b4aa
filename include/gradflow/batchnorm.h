// Batch normalization per feature for [B, F] input (Ioffe & Szegedy 2015), with PyTorch's
// BatchNorm1d semantics.
//
//   training:   μ = mean_b x,  σ² = mean_b (x − μ)²  (biased),  x̂ = (x − μ) / √(σ² + ε)
//               y = γ·x̂ + β          γ "weight" [F] (initial 1), β "bias" [F] (initial 0)
//               running_mean ← (1 − m)·running_mean + m·μ
//               running_var  ← (1 − m)·running_var  + m·σ²·B/(B − 1)   (unbiased), m = 0.1
//               num_batches_tracked += 1
//   evaluation: y = γ·(x − running_mean) / √(running_var + ε) + β
//   backward (training, through μ and σ²):
//               dβ = Σ_b dy     dγ = Σ_b dy·x̂
//               dx = γ / (B·√(σ² + ε)) · (B·dy − dβ − x̂·dγ)
//   backward (evaluation): dx = dy·γ / √(running_var + ε)
//
// Training on a batch of one sample throws (its variance is undefined), as in PyTorch.
// Synchronized (synchronize_across, PyTorch's SyncBatchNorm): in data-parallel training μ, σ²
// and the sums of the backward pass are taken over every process's slice of the batch (B: the
// whole batch), so N processes compute what one computes on the whole batch.
// A frozen BatchNorm (set_trainable(false)) behaves as in evaluation even in training mode and
// leaves its running statistics alone — Keras' rule, so that a frozen layer stays as it was;
// PyTorch's requires_grad=False would keep updating the statistics.
// Followed by a point-wise activation (and a Dropout), the three run in BatchNorm's passes
// (forward_fused, backward_fused; Sequential does this): the same values, one region of
// threads instead of three, each thread taking the same features through all three.
#pragma once

#include <cstdint>
#include <vector>

#include "gradflow/layer.h"

namespace gradflow {

class Dropout;

class BatchNorm final : public Layer {
 public:
  BatchNorm(const LayerSpec& spec, std::size_t features);
  std::string name() const override;  // "BatchNorm(256)"
  std::vector<ParamShape> param_shapes() const override;
  void init(Rng& rng) override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  std::vector<std::pair<std::string, std::int64_t*>> counters() override { return {{"num_batches_tracked", &num_batches_}}; }

  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  std::int64_t& num_batches_tracked() { return num_batches_; }
  void synchronize_across(CrossProcessSum* sum) override { sync_ = sum; }
  bool synchronized() const { return sync_ != nullptr; }

  // The layers after this one that run in its passes: a = act(y) (pointwise::is_pointwise)
  // and, when dropout is not null, d = dropout(a). a and d are resized to [B, F].
  struct Followers {
    const LayerSpec& act;
    Tensor& a;
    Dropout* dropout = nullptr;
    Tensor* d = nullptr;
  };
  // forward() of this layer, then of the followers, in one region (not when synchronized()).
  void forward_fused(const Tensor& x, Tensor& y, const Followers& next, Mode mode, Rng& rng);
  // Their backward, given g = ∂L/∂(the last follower's output): dy = ∂L/∂y, the parameter
  // gradients (if trainable) and dx (if not null), both resized to [B, F]. ∂L/∂a is not kept.
  void backward_fused(const Tensor& x, const Tensor& y, const Followers& next, const Tensor& g, Tensor& dy,
                      Tensor* dx);

 protected:
  void forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng& rng) override;
  // With the running statistics, its coefficients in a buffer of its own.
  void evaluate_impl(const Tensor& x, Tensor& y) const override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                     bool param_grads) override;

 private:
  // The phases of forward_impl / backward_impl on features [j0, j1).
  void sum_x(const Tensor& x, std::size_t j0, std::size_t j1);
  void sum_squares(const Tensor& x, std::size_t j0, std::size_t j1);
  void finish_statistics(std::size_t j0, std::size_t j1);
  void start_forward(std::size_t rows, Mode mode);
  void statistics(const Tensor& x, std::size_t j0, std::size_t j1);
  void coefficients(std::size_t j0, std::size_t j1);
  // α and β' from mean and invstd ([F] each) into alpha and shift, for features [j0, j1).
  void coefficients(const float* mean, const float* invstd, float* alpha, float* shift, std::size_t j0,
                    std::size_t j1) const;
  void normalize(const Tensor& x, Tensor& y, std::size_t r0, std::size_t r1, std::size_t j0, std::size_t j1);
  static void normalize(const float* alpha, const float* shift, const Tensor& x, Tensor& y, std::size_t r0,
                        std::size_t r1, std::size_t j0, std::size_t j1);
  void zero_sums(std::size_t j0, std::size_t j1);
  void add_gradient_sums(const Tensor& x, const Tensor& dy, std::size_t r0, std::size_t r1, std::size_t j0,
                         std::size_t j1);
  void gradient_sums(const Tensor& x, const Tensor& dy, bool param_grads, std::size_t j0, std::size_t j1);
  void store_param_grads(std::size_t j0, std::size_t j1);
  void input_gradient(const Tensor& x, const Tensor& dy, Tensor& dx, std::size_t j0, std::size_t j1);
  Tensor running_mean_, running_var_;  // [1, F]
  std::int64_t num_batches_ = 0;
  // Of the last forward: the mean and 1/√(σ² + ε) it normalized with ([1, F]), and whether
  // those were batch statistics (training) or running ones (evaluation).
  Tensor mean_, invstd_;
  std::vector<double> acc_a_, acc_b_;  // [F] double accumulators, as PyTorch's CPU kernel uses
  std::vector<float> scratch_;          // [2F] per-feature coefficients
  float* acc_alpha() { return scratch_.data(); }
  float* acc_shift() { return scratch_.data() + in_; }
  bool last_training_ = false;
  CrossProcessSum* sync_ = nullptr;
  double batch_rows_ = 0;          // B of the last training forward (the whole batch's when synchronized)
  std::vector<double> sync_buf_;   // [2F + 1]: the sums exchanged with the other processes
};

}  // namespace gradflow
