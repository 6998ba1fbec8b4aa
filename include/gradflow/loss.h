// Losses, each the mean over the batch as PyTorch's reduction='mean'.
//
// Each loss takes the network's raw output z [B, K] and a target, and returns the loss and
// (optionally) dz = ∂loss/∂z in one fused pass. The target is either
//   - class labels [B, 1] (a class index stored as a float), or
//   - values [B, K] (regression targets, or per-output probabilities for BCE).
// For K > 1, MSE and BCE turn labels into one-hot rows on the fly.
//
//   CrossEntropy   ℓ = mean_b [ log Σ_k e^(z_bk) − z_b,y ]        labels only; log-sum-exp
//                  dz = (softmax(z) − onehot(y)) / B                 as nn.CrossEntropyLoss
//   BinaryCross    ℓ = mean_bk [ max(z,0) − z·t + log(1 + e^−|z|) ] on logits, stable form
//   Entropy        dz = (σ(z) − t) / (B·K)                           as nn.BCEWithLogitsLoss
//   MeanSquared    ℓ = mean_bk (z − t)²      dz = 2 (z − t) / (B·K)  as nn.MSELoss
//
// CrossEntropy fuses the Softmax output layer and BinaryCrossEntropy the Sigmoid output layer:
// a model that ends in that activation hands the loss the activation's input (the logits), as
// the trainer and evaluate() do. This is both exact and stable where log(softmax) is not.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gradflow/layer.h"
#include "gradflow/tensor.h"

namespace gradflow {

enum class LossKind { CrossEntropy, BinaryCrossEntropy, MeanSquaredError };

class Loss {
 public:
  explicit Loss(LossKind kind) : kind_(kind) {}
  LossKind kind() const { return kind_; }
  std::string_view name() const;
  // The output activation folded into this loss (Softmax, Sigmoid), if any.
  std::optional<LayerKind> fused_activation() const;

  // Mean loss of z [B, K] against target ([B, 1] labels or [B, K] values); if dz != nullptr
  // it is resized to [B, K] and receives ∂loss/∂z. Throws std::invalid_argument on a shape
  // mismatch or a label outside [0, K).
  double forward_backward(const Tensor& z, const Tensor& target, Tensor* dz) const;
  double forward(const Tensor& z, const Tensor& target) const {
    return forward_backward(z, target, nullptr);
  }

  // Whether accuracy is defined for K outputs and targets of target_cols columns: labels are
  // given (target_cols == 1 < K), or a single BCE logit (threshold 0.5).
  bool has_accuracy(std::size_t outputs, std::size_t target_cols) const;
  // Number of rows whose predicted class (argmax, or z > 0 for a single BCE logit) equals
  // the label.
  std::size_t count_correct(const Tensor& z, const Tensor& target) const;

 private:
  LossKind kind_;
};

// ---- The registered losses (the table: src/nn/loss.cpp) ----
// To add a loss: its LossKind, its terms function (the loss and dz in one pass) and one entry.
struct LossTerms;
struct LossKindInfo {
  LossKind kind;
  std::string_view name;         // "cross_entropy": the CLI's --loss and the model file's
  std::string_view aliases;      // other accepted names, comma-separated (Keras's among them)
  std::string_view torch_class;  // "CrossEntropyLoss": torch.nn's (reduction 'mean')
  std::optional<LayerKind> fused;  // the output activation it folds in (the model ends in it)
  bool labels_only;                // takes class labels only
  // The mean loss over the batch; writes dz when asked (terms.dz != nullptr).
  double (*terms)(const LossTerms& terms);
};
std::span<const LossKindInfo> loss_kinds();
const LossKindInfo& loss_kind(LossKind kind);
// A name or alias of loss_kinds(); throws std::invalid_argument listing the names.
LossKind parse_loss(std::string_view name);
// "cross_entropy, bce, mse".
std::string loss_names(std::string_view separator = ", ");

// The class a row of outputs predicts: argmax (first maximum), or z > 0 for one output.
std::size_t predicted_class(const float* z, std::size_t k);

}  // namespace gradflow
