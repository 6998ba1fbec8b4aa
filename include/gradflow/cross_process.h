// What data-parallel training shares between its processes (for example over MPI): sums over
// all of them. Trainer's GradientReducer is one; BatchNorm uses one to compute its batch
// statistics over the whole batch instead of its own slice (SyncBatchNorm).
#pragma once

#include <cstddef>

namespace gradflow {

class CrossProcessSum {
 public:
  virtual ~CrossProcessSum() = default;
  // values[i] ← Σ over the processes of values[i], in place, on every process.
  virtual void sum(double* values, std::size_t count) = 0;
};

}  // namespace gradflow
