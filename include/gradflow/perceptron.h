// Perceptron: a single threshold unit, where the lecture starts.
//
//   output(x) = +1 if xᵀw + b > 0, else −1          (a linear separator)
//   rule (Rosenblatt): for each misclassified (x, t), w ← w + lr·t·x, b ← b + lr·t
//
// It converges exactly when the data is linearly separable — which XOR is not.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "gradflow/tensor.h"

namespace gradflow {

class Perceptron {
 public:
  // Weights and bias start at zero (the rule needs no random start).
  explicit Perceptron(std::size_t in_features);

  std::size_t in_features() const { return w_.size(); }
  // +1 or −1 for one sample of in_features values.
  int predict(std::span<const float> x) const;
  // Runs the perceptron rule over x [N, F] with targets t (each +1 or −1) for at most
  // max_epochs passes; stops after the first pass without a mistake. Returns the number of
  // misclassified samples after training (0 when it separated the data).
  std::size_t fit(const Tensor& x, std::span<const int> targets, std::size_t max_epochs = 100,
                  float learning_rate = 1.0f);

  std::span<const float> weights() const { return w_; }
  float bias() const { return b_; }

 private:
  std::vector<float> w_;
  float b_ = 0.0f;
};

}  // namespace gradflow
