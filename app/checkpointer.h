// Saving a run after every epoch, and resuming it.
//
//   model.safetensors            the model (for eval, predict, --init-from)
//   checkpoint_last.safetensors  the model + optimizer state + "gradflow.training" metadata:
//                                epoch, steps, RNG states, schedule, early-stopping and
//                                unfreezing state — everything `train --resume` needs to end
//                                with the same weights as an uninterrupted run
//   checkpoint_best.safetensors  the model of the epoch with the lowest test loss so far
#pragma once

#include <string>
#include <vector>

#include "gradflow/callbacks.h"
#include "gradflow/checkpoint.h"

namespace gradflow::app {

class Checkpointer final : public Callback {
 public:
  Checkpointer(std::string folder, Sequential& model, Optimizer& optimizer, Trainer& trainer, LrScheduler& scheduler,
               EarlyStopping* early, StagedUnfreezing* unfreezing, ModelInfo info);
  void set_folder(std::string folder) { folder_ = std::move(folder); }
  void on_epoch_end(Trainer&, const EpochMetrics& m) override;
  void save_model_file();
  // Restore everything from checkpoint_last (and checkpoint_best for early stopping); returns
  // the number of epochs done. Throws when the checkpoint does not fit the configuration.
  std::size_t resume(const ModelFile& last);

 private:
  std::string path(const char* name) const;
  std::string folder_;
  Sequential& model_;
  Optimizer& optimizer_;
  Trainer& trainer_;
  LrScheduler& scheduler_;
  EarlyStopping* early_;
  StagedUnfreezing* unfreezing_;
  ModelInfo info_;
  double best_loss_;
  std::size_t global_step_ = 0;
};

// "1:3,5:2,9:0" → stages (epoch, frozen blocks).
std::vector<StagedUnfreezing::Stage> parse_stages(const std::string& text);
// Truncate a text file to its first n lines (metrics.jsonl of a resumed run).
void keep_first_lines(const std::string& path, std::size_t n);

}  // namespace gradflow::app
