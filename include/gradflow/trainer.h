// Trainer: minibatch SGD over epochs, with a held-out test set evaluated after each epoch
// (the lecture's estimate of the generalization loss), an optional validation set for what
// selects (early stopping, plateau schedules, the best checkpoint: never the test set), and
// callbacks to extend the loop.
//
// One step reads top to bottom: next batch → forward (training mode) → loss and ∂loss/∂z →
// backward → on_after_backward callbacks (clip, average, inspect) → optimizer step →
// on_step_end callbacks. After the first step of a given batch size a step allocates nothing.
//
// A model whose last layer is the activation its loss fuses (Softmax for cross-entropy,
// Sigmoid for BCE) is trained on the logits beneath it; that layer still runs in predict().
#pragma once

#include <array>
#include <cmath>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradflow/cross_process.h"
#include "gradflow/data/dataset.h"
#include "gradflow/loss.h"
#include "gradflow/optimizer.h"
#include "gradflow/rng.h"
#include "gradflow/sequential.h"
#include "gradflow/stateful.h"

namespace gradflow {

class GradientReducer;

struct TrainOptions {
  std::size_t epochs = 10;
  std::size_t batch_size = 64;
  // Reshuffle the training set every epoch (from seed); false visits samples in their order,
  // which is what a step-by-step comparison with PyTorch needs. The last partial batch is used.
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::size_t eval_batch_size = 1000;
  // Skip the last partial batch of every epoch (as DataLoader's drop_last). Without it, a last
  // batch of one sample joins the batch before it when the model has BatchNorm (which cannot
  // normalize a single sample; PyTorch stops with an error there).
  bool drop_last = false;
  // Stop with TrainingDiverged when training diverges: the loss or a gradient becomes NaN or
  // infinite (checked after each backward pass, before the optimizer step, so that update is
  // never applied); the updated weights or a running statistic become NaN or infinite
  // (checked after the step: that update stays applied in memory); or the loss blows up while
  // staying finite — above divergence_factor times the first step's loss (at least 0.01), as
  // with Adam at lr 1e6 (loss 4e11 and 10% accuracy).
  bool stop_on_non_finite = true;
  double divergence_factor = 1e4;
  // Data-parallel training: this process computes its slice of every batch and the reducer
  // combines the slices (nullptr: one process computes whole batches).
  GradientReducer* reducer = nullptr;
};

// Data-parallel training (for example an MPI allreduce): every process holds the whole model,
// visits the batches in the same order, and computes rows [B·rank/size, B·(rank+1)/size) of
// each batch of B. After the backward pass the reducer turns each process's results into the
// whole batch's, so that every process applies the same update.
class GradientReducer : public CrossProcessSum {
 public:
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  // In place: the gradients of the slice's mean loss over `rows` samples become those of the
  // batch's mean loss over `batch_rows`; `loss` (the slice's mean) becomes the batch's,
  // `correct` the batch's count, `stop` whether any process asked to stop. The gradients of
  // frozen layers may be anything (no one reads them).
  virtual void reduce(Sequential& model, std::size_t rows, std::size_t batch_rows, double& loss,
                      std::size_t& correct, bool& stop) = 0;
};

// Thrown by Trainer::step when training diverges; says where and what to try.
class TrainingDiverged : public std::runtime_error {
 public:
  TrainingDiverged(const std::string& what, std::size_t global_step, std::size_t layer, std::string cause = {})
      : std::runtime_error(what), step(global_step), layer(layer), cause(std::move(cause)) {}
  std::size_t step;   // 0-based global step
  std::size_t layer;  // the layer named in the message (model.size() for the loss itself)
  std::string cause;  // its likely cause, a diagnostics.h kCause… name (divergence_cause)
};

struct EpochMetrics {
  std::size_t epoch = 0;  // 1-based
  // Train loss and accuracy are means over the epoch's minibatches as they were seen
  // (weights changing during the epoch), weighted by batch size — Keras' convention.
  double train_loss = 0, train_acc = std::numeric_limits<double>::quiet_NaN();
  // On the validation and the test set in evaluation mode after the epoch; NaN without one.
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double val_acc = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double test_acc = std::numeric_limits<double>::quiet_NaN();
  // Regression only (Evaluation::mae, r2), on the validation and test sets; NaN otherwise.
  double val_mae = std::numeric_limits<double>::quiet_NaN(), val_r2 = std::numeric_limits<double>::quiet_NaN();
  double test_mae = std::numeric_limits<double>::quiet_NaN(), test_r2 = std::numeric_limits<double>::quiet_NaN();
  // The learning rate the epoch trained with (the optimizer's after on_epoch_begin): a plateau
  // schedule's change at the epoch's end belongs to the next epoch.
  double lr = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;  // wall time of the epoch, evaluations included
  // Where the epoch's time went, in seconds (wall time on the calling thread; they add up to
  // `seconds` but for the shuffle and the bookkeeping between phases):
  struct Times {
    double gather = 0;     // copying each batch's shuffled rows together
    double forward = 0;    // the model's forward pass, the loss and the accuracy count
    double backward = 0;   // the backward pass (and a data-parallel gradient exchange)
    double update = 0;     // the optimizer's step and the non-finite checks
    double callbacks = 0;  // the callbacks' per-step hooks (diagnostics, progress)
    double evaluate = 0;   // the validation and test evaluations after the epoch
  } times;
  // The loss that selection watches: validation, else training — never the test loss, which
  // would leak the test set into the choice of model.
  double monitored_loss() const { return std::isnan(val_loss) ? train_loss : val_loss; }
};

struct StepInfo {
  std::size_t epoch = 0;        // 1-based
  std::size_t step = 0;         // 0-based within the epoch
  std::size_t steps_per_epoch = 0;
  std::size_t global_step = 0;  // 0-based over the whole run
  std::size_t batch_size = 0;
  double loss = 0;
};

class Trainer;

// Override what you need; every hook defaults to doing nothing.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer&) {}
  virtual void on_epoch_begin(Trainer&, std::size_t /*epoch*/) {}
  // Gradients of this step are in model().gradients() and may be read or changed.
  virtual void on_after_backward(Trainer&, const StepInfo&) {}
  virtual void on_step_end(Trainer&, const StepInfo&) {}
  // Call trainer.request_stop() here (or anywhere) to end training after this epoch.
  virtual void on_epoch_end(Trainer&, const EpochMetrics&) {}
  virtual void on_train_end(Trainer&) {}
};

struct Evaluation {
  double loss = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // NaN when undefined
  std::size_t samples = 0;
  std::size_t classes = 0;
  std::vector<std::size_t> confusion;  // [true class][predicted class], classes² entries
  // Regression (no accuracy, no classes): mean absolute error over every output, and R² =
  // 1 − SSE/SST per output column, averaged over columns (scikit-learn's r2_score); NaN otherwise.
  double mae = std::numeric_limits<double>::quiet_NaN();
  double r2 = std::numeric_limits<double>::quiet_NaN();
};

// Loss (and accuracy, confusion matrix for classification) of the model on data, in
// evaluation mode, in batches of batch_size. Const: safe beside other evaluations and predicts.
Evaluation evaluate(const Sequential& model, const Loss& loss, const Dataset& data,
                    std::size_t batch_size = 1000);
// Model outputs (all layers, evaluation mode) for x [N, F] → out [N, out_features]. Const: any
// number of threads may predict with one model at once and get the one-thread bits.
void predict(const Sequential& model, const Tensor& x, Tensor& out, std::size_t batch_size = 1000);
// Layers the loss reads: all, or all but an output activation the loss fuses.
std::size_t loss_input_layers(const Sequential& model, const Loss& loss);

// Where fit() stood inside an epoch when it was interrupted: enough to continue it exactly.
struct EpochPosition {
  std::size_t epoch = 0;       // the epoch under way (1-based)
  std::size_t steps_done = 0;  // its steps already taken
  double loss_sum = 0;         // Σ loss · batch size over those steps
  std::size_t correct = 0;     // correctly classified samples among them
};

class Trainer : public Stateful {
 public:
  Trainer(Sequential& model, const Loss& loss, Optimizer& optimizer, TrainOptions options = {});

  // Callbacks run in the order added; the trainer does not own them.
  void add_callback(Callback& cb) { callbacks_.push_back(&cb); }

  // Train for options().epochs epochs; returns one EpochMetrics per epoch run. `test` and `val`
  // (either may be null) are evaluated after every epoch.
  std::vector<EpochMetrics> fit(const Dataset& train, const Dataset* test = nullptr, const Dataset* val = nullptr);
  // Throws std::invalid_argument when fit(train) could not run: wrong number of features, an
  // empty set, a single sample for a model with BatchNorm, no full batch with drop_last.
  void check(const Dataset& train) const;
  // Whether fit() on n samples folds a last batch of one sample into the one before.
  bool folds_last_batch(std::size_t n) const;
  // Steps an epoch over n samples takes (the last partial batch dropped, folded or its own step).
  std::size_t steps_per_epoch(std::size_t n) const;
  // One SGD step on a batch (x [B, F], y targets as the loss takes them); returns the loss.
  double step(const Tensor& x, const Tensor& y);
  // Correctly classified samples in the last step's batch (0 when accuracy is undefined).
  std::size_t last_step_correct() const { return last_correct_; }

  // Continue an interrupted run: the next fit() starts at epoch epochs_done + 1 (the epoch
  // count, schedules and callbacks see the true epoch numbers).
  void resume_at(std::size_t epochs_done, std::size_t steps_done);
  // Continue inside an epoch: the next fit() starts at within.epoch, skipping its first
  // within.steps_done steps. shuffle_rng() must hold the state it had before that epoch's
  // shuffle (as interrupted_shuffle_state() gave it).
  void resume_within(const EpochPosition& within, std::size_t steps_done);
  void request_stop() { stop_ = true; }
  // Makes fit() return after the step under way, mid-epoch (thread-safe; for a signal handler,
  // set a flag and call this from a callback). Then interrupted() is true, position() says
  // where it stopped and interrupted_shuffle_state() what to restore to continue.
  void interrupt() { interrupt_.store(true, std::memory_order_relaxed); }
  bool interrupted() const { return interrupted_; }
  const EpochPosition& position() const { return position_; }
  std::array<std::uint64_t, 4> interrupted_shuffle_state() const { return epoch_rng_; }
  // Where training stands — epochs done, steps taken, the shuffling and the model's noise
  // generators, and after an interruption the position inside the epoch — and back: the next
  // fit() continues exactly there (resume_at / resume_within).
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;
  // Epochs completed before the next fit() starts (after load_state_json: the checkpoint's).
  std::size_t epochs_done() const { return first_epoch_ - 1; }
  std::size_t global_step() const { return info_.global_step; }
  Sequential& model() { return model_; }
  const Loss& loss() const { return loss_; }
  Optimizer& optimizer() { return opt_; }
  const TrainOptions& options() const { return opts_; }
  Rng& shuffle_rng() { return rng_; }

 private:
  void check_finite(double loss, bool layers_checked) const;
  // One step on `x`, this process's rows of a batch of batch_rows (data parallel: a slice).
  double step_rows(const Tensor& x, const Tensor& y, std::size_t batch_rows);
  // The batch's loss and gradients again at the current weights (an LBFGS evaluation).
  double evaluate_again(const Tensor& x, const Tensor& y, std::size_t batch_rows);
  // fit()'s parts: the steps of one epoch from `first_step` (false when interrupted), one step
  // on the batch of n samples from position `begin` of the epoch's order, the epoch's metrics.
  bool train_epoch(const Dataset& train, std::size_t epoch, std::size_t first_step, double& loss_sum,
                   std::size_t& correct);
  double step_batch(const Dataset& train, std::size_t begin, std::size_t n);
  EpochMetrics epoch_metrics(const Dataset& train, std::size_t epoch, double loss_sum, std::size_t correct,
                             const Dataset* test, const Dataset* val);
  void check_state(bool weights_finite) const;  // weights_finite: what Optimizer::step saw
  [[noreturn]] void diverged(const std::string& what, std::size_t layer) const;
  double first_loss_ = -1;             // of this fit(), for the blow-up check
  EpochMetrics::Times times_;          // of the current epoch
  struct Buffer {  // a running statistic, checked after each step
    std::size_t layer;
    std::string name;
    const Tensor* values;
  };
  std::vector<Buffer> buffers_;
  Sequential& model_;
  const Loss& loss_;
  Optimizer& opt_;
  TrainOptions opts_;
  std::vector<Callback*> callbacks_;
  Rng rng_;
  std::size_t head_;
  Tensor batch_x_, batch_y_, dz_;
  std::vector<std::uint32_t> order_;
  StepInfo info_;
  std::size_t last_correct_ = 0;
  std::size_t first_epoch_ = 1;
  bool stop_ = false;
  std::atomic<bool> interrupt_{false};
  bool interrupted_ = false;
  EpochPosition position_, within_;              // where fit() stopped / is to continue
  std::array<std::uint64_t, 4> epoch_rng_{};     // shuffle RNG before this epoch's shuffle
};

}  // namespace gradflow
