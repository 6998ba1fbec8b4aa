// Saving a run on a cadence, and resuming it.
//
// Writes happen at most every --save-every (N seconds, or every N epochs), and always after
// the last epoch and on early stopping; on divergence and interruption the caller asks for the
// last good state. Between writes, the last epoch's and the best epoch's weights are kept in
// memory (a copy of the parameters each epoch: small beside an epoch's work), so what is
// written is always a completed epoch. Every write is atomic (temporary file + rename).
//
//   model.safetensors            the model (for eval, predict, --init-from)
//   checkpoint_last.safetensors  the model + the optimizer's buffers + "gradflow.training":
//                                the state of every Stateful part by name (trainer: epoch,
//                                steps, RNGs and the position inside an interrupted epoch;
//                                optimizer; schedule; early stopping; unfreezing) — what
//                                `train --resume` needs to end with the same weights as an
//                                uninterrupted run
//   checkpoint_best.safetensors  the model of the epoch with the lowest validation loss so far
//                                (only with a validation set: selection never looks at the test set)
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runs/recipe.h"
#include "gradflow/callbacks.h"
#include "gradflow/model_file.h"
#include "runs/run_folder.h"

namespace gradflow::app {

// The tool speaks the runs component's names (src/runs/: recipes, run folders, reports, studies).
using namespace gradflow::runs;

class RunCheckpoints final : public Callback {
 public:
  // Saves into `folder` (which must outlive this) the model and the state of every part given.
  RunCheckpoints(const RunFolder& folder, Sequential& model, Optimizer& optimizer, Trainer& trainer,
                 LrScheduler& scheduler, EarlyStopping* early, StagedUnfreezing* unfreezing, ModelInfo info,
                 SaveCadence cadence = {});
  void on_epoch_end(Trainer&, const EpochMetrics& m) override;
  void save_model_file();
  // checkpoint_last for a trainer that stopped mid-epoch (Trainer::interrupt): resuming
  // continues at the next step, with the same result as an uninterrupted run. Also writes the
  // last completed epoch's model and the best one, if not yet on disk.
  void save_interrupted();
  // After a divergence: the model goes back to the last completed epoch, which is written as
  // model.safetensors (with the best epoch's, if not yet on disk). Returns whether there was one.
  bool save_last_good();
  // Whether this process wrote a checkpoint; the epochs the latest one (or the resumed one) holds.
  bool saved() const { return saved_; }
  std::size_t saved_epoch() const { return saved_epoch_; }
  // Optimizer steps the resumed checkpoint had taken (diagnostics records past it are dropped).
  std::size_t resumed_steps() const { return saved_steps_; }
  // Restore everything from checkpoint_last (and checkpoint_best for early stopping); returns
  // the number of epochs done. Throws when the checkpoint does not fit the configuration.
  std::size_t resume(const ModelFile& last);

 private:
  nlohmann::json training_state() const;
  void save_last(const nlohmann::json& training);
  // Writes what is only in memory: the last completed epoch's model and the best epoch's.
  void write_pending();
  void save_state_as(const Sequential::State& state, const std::string& file, const ModelInfo& info);
  const RunFolder& folder_;
  Sequential& model_;
  Optimizer& optimizer_;
  Trainer& trainer_;
  EarlyStopping* early_;
  std::vector<std::pair<std::string, Stateful*>> parts_;  // what saves its own state, by name
  ModelInfo info_;
  double best_loss_;
  SaveCadence cadence_;
  std::chrono::steady_clock::time_point last_write_;
  std::optional<Sequential::State> last_good_, best_;
  std::size_t last_good_epoch_ = 0, best_epoch_ = 0, model_written_epoch_ = 0;
  bool best_pending_ = false;
  bool saved_ = false;
  std::size_t saved_epoch_ = 0, saved_steps_ = 0;
};


}  // namespace gradflow::app
