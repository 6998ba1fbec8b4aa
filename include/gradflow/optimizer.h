// Optimizers: update a model's parameters from the gradients of the last backward pass.
// Only trainable layers are updated; a frozen layer's parameters never change.
#pragma once

#include "gradflow/sequential.h"

namespace gradflow {

class Optimizer {
 public:
  explicit Optimizer(double lr) : lr_(lr) {}
  virtual ~Optimizer() = default;
  virtual void step(Sequential& model) = 0;
  double learning_rate() const { return lr_; }
  // Schedules set the rate between steps.
  void set_learning_rate(double lr) { lr_ = lr; }

 protected:
  double lr_;
};

// Plain minibatch stochastic gradient descent: θ ← θ − lr · g.
class SGD final : public Optimizer {
 public:
  explicit SGD(double lr);
  void step(Sequential& model) override;
};

}  // namespace gradflow
