// Memory estimates: a network that cannot be built or trained in this machine's memory is
// refused before anything is allocated, with its size and the limit — in C++, the CLI and
// Python alike (`--layers 100000000:relu` used to run for a while and die of std::bad_alloc;
// Python's Sequential(2, [dense(10**9), …]) grew to 16.5 GB).
//
//   to build:  4 bytes × 2 × P                          (the parameters and their gradients)
//   to train:  4 bytes × (6 × P + max(2 × batch, 1000) × U)
//   P: parameters and running statistics, U: the input width plus every layer's output width.
// Per parameter in training: the weight, its gradient, up to three optimizer buffers (Adam's
// moments and AMSGrad's maximum) and the diagnostics' copy; per unit: the outputs and their
// gradients over a training batch, or the outputs over an evaluation batch of 1000.
// (784-300000-10 with BatchNorm and dropout: estimated 10.5 GB, measured peak 9.2 GB.)
// The limit is 80% of the machine's physical memory.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "gradflow/layer.h"

namespace gradflow {

// Thrown when an estimate exceeds the limit (Python: MemoryError).
class MemoryLimitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Throw MemoryLimitError naming the network's parameters, the estimate and the limit.
void check_build_memory(std::size_t in_features, const std::vector<LayerSpec>& layers);
void check_training_memory(std::size_t in_features, const std::vector<LayerSpec>& layers, std::size_t batch);

}  // namespace gradflow
