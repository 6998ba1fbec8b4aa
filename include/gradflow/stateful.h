// Stateful: a training component that saves and restores its own state for checkpoints, as
// torch's state_dict() / load_state_dict(): the optimizer, the learning-rate scheduler, early
// stopping, staged unfreezing and the trainer (its position and random generators). A
// checkpoint only iterates over them. The state is JSON text (this header needs no JSON
// library); tensors — an optimizer's moments — travel separately, by name (Optimizer::state()).
#pragma once

#include <string>

namespace gradflow {

class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual std::string state_json() const = 0;
  // Restores what state_json() gave; throws std::invalid_argument when it does not fit.
  virtual void load_state_json(const std::string& json) = 0;
};

}  // namespace gradflow
