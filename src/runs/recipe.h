// The resolved configuration of a `gradflow train` run: defaults, then a config file
// (--config, JSON), then command-line flags. Saved as config.json in the run folder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradflow/callbacks.h"
#include "gradflow/diagnostics.h"
#include "gradflow/layer.h"
#include "gradflow/loss.h"
#include "gradflow/mlp.h"
#include "gradflow/optimizer.h"
#include "gradflow/trainer.h"

namespace gradflow::runs {

// config.json's version. 1 (no "version" key): the optimizer's settings were top-level keys
// (momentum, weight_decay, beta1, beta2, eps, amsgrad, centered) and diagnostics_every could be
// a number; from_json migrates such a file to what that run used.
inline constexpr int kConfigVersion = 2;

// The defaults are the main job, spelled out in them (what --help shows is what runs):
// 784-512-256-10, BatchNorm before each ReLU and dropout 0.1 after it (written into the
// network kLargeDataLayers), He init, Adam at 4e-3 with cosine annealing, batch 128, 15 epochs — the
// most accurate on a validation split of the candidates within 3/4 of the old 20-epoch
// recipe's compute (bench/recipe_search, bench/results/recipe_search.md). Batch and epochs not
// given, and --layers auto, follow the training set's size (adapt_to_data): the main job's from
// 16,384 rows up.
// A user's --layers means exactly the layers written.
struct Recipe {
  int version = kConfigVersion;
  // data
  std::string data = "fashion-mnist";
  std::string test;                 // "" : the data set's own test split, if it has one
  double test_split = 0;            // hold out this stratified fraction of the data as the test set
  std::string val;                  // validation data ("" : none, or --val-split)
  double val_split = 0;             // hold out this stratified fraction of the training data for validation
  std::string label_column = "-1";  // CSV: name or index
  std::string task = "auto";        // auto | classification | regression
  std::size_t max_classes = 100;    // at most this many classes (a CSV label is a class index below it)
  std::string impute = "none";      // CSV missing values: none (an error) | mean | median
  std::string drop_columns;         // CSV: columns to leave out, by name, comma-separated
  std::string feature_columns;      // CSV: the feature columns, by name, comma-separated ("": all but the label)
  bool standardize = false;
  std::size_t limit = 0, test_limit = 0;  // use only the first N samples (0: all)
  // model
  std::string layers = "auto";  // auto: kLargeDataLayers from kLargeData rows up, else kSmallDataLayers
  bool batchnorm = false;  // BatchNorm after every hidden Dense, before its activation
  double dropout = 0;      // Dropout after every hidden activation
  std::string output = "auto";  // softmax | sigmoid | identity | auto (from the loss)
  std::string loss = "auto";    // cross_entropy | bce | mse | auto (mse for regression data)
  std::string init = "default";
  // recipe
  std::string optimizer = "adam";  // a name of optimizer_kinds()
  double lr = 4e-3;                // the default job's rate, whichever optimizer runs
  // The optimizer's other hyper-parameters by name; resolve_optimizer fills in the ones not
  // given with the optimizer's defaults (the library's: PyTorch's), so config.json records
  // every value used.
  nlohmann::json optimizer_options = nlohmann::json::object();
  std::string schedule = "cosine";  // none | step:S[:G] | exponential:G | cosine[:T[:MIN]] | plateau[:P[:F]]
  std::size_t warmup = 0;          // linear warm-up epochs
  // The epochs the schedule is planned over (cosine's T_MAX counts from it); 0: --epochs. A
  // resumed run keeps its own plan: --resume --epochs 30 continues the 10-epoch schedule.
  std::size_t schedule_epochs = 0;
  double clip_norm = 0, clip_value = 0;  // 0: off
  std::size_t early_stop = 0;            // patience in epochs, 0: off
  double min_delta = 0;                  // early stopping: a better validation loss is lower by more than this
  std::size_t batch_size = 0;  // 0: from the training rows (adapt_to_data)
  bool drop_last = false;  // skip each epoch's last partial batch
  std::size_t epochs = 0;      // 0: from the training rows (adapt_to_data)
  std::uint64_t seed = 42;
  int threads = 0;  // 0: all cores
  bool shuffle = true;
  bool sync_batchnorm = false;  // under mpirun: BatchNorm statistics over every rank's slice
  // transfer learning
  std::string classes;          // keep only these classes ("0,1,2"), relabelled in this order
  std::size_t per_class = 0;    // use only the first N training samples of each class (0: all)
  std::string init_from;        // start from a checkpoint's lower layers that match by shape
  std::size_t freeze = 0;       // the first N blocks (Dense + its BN/activation/dropout) frozen
  std::size_t unfreeze_every = 0;  // unfreeze one more block, top down, every E epochs
  std::string stages;           // explicit stages "EPOCH:FROZEN,…" (instead of freeze/unfreeze_every)
  double unfrozen_lr_scale = 1.0;  // learning-rate factor for blocks once they are unfrozen
  // seeing into training
  std::string diagnostics_every = "auto";  // steps between per-layer records: N | 0 (off) | auto
  bool report = true;                     // write report.html at the end
  // output
  std::string save_every = "30s";  // checkpoint cadence: Ns (seconds) | N (epochs); always at the end
  std::string out;     // run folder ("" : runs/<timestamp>)
  std::string resume;  // continue the run in this folder from its last checkpoint
};

// One option of `gradflow train`: its config.json key, its Recipe member, its names on the
// command line and its help. The command line's options, config.json's keys and their types
// come from this table (src/runs/recipe.cpp); the optimizers' hyper-parameters from their registry.
// (std::uint64_t is std::size_t on the 64-bit targets gradflow builds for.)
static_assert(std::is_same_v<std::uint64_t, std::size_t>);
using RecipeMember = std::variant<std::string Recipe::*, double Recipe::*, std::size_t Recipe::*,
                                 int Recipe::*, bool Recipe::*>;
struct RecipeOption {
  const char* key;      // "batch_size"
  const char* names;    // CLI11's: "--batch-size", "--lr,--learning-rate", "--shuffle,!--no-shuffle"
  RecipeMember member;
  std::string help;
  const char* choices = nullptr;  // "auto|classification|regression": the only values accepted
  std::size_t min = 0;            // a whole number's least value
};
std::span<const RecipeOption> recipe_options();
// Whether `value` is one of "a|b|c".
bool is_choice(std::string_view choices, std::string_view value);

// Batch size and epochs the user left at 0, and --layers auto, from the training rows: from
// kLargeData rows up, the main job's network, batch 128 and 15 epochs; below, 100 ReLU units, the power of two nearest rows / 8 within
// [16, 128], and as many epochs as make about kAdaptiveSteps steps, within [15, 200] — a small
// set gets as many updates as a large one instead of 15 steps in all (iris: batch 16, 200
// epochs). Returns what it chose, for the recipe line ("" when the user set all three).
inline constexpr std::size_t kLargeData = 16384, kAdaptiveSteps = 2000;
// --layers auto: the main job's network, or scikit-learn's MLP default for smaller sets (on its
// bundled sets within a point of MLPClassifier() or better: bench/bundled_sets.py).
inline constexpr const char* kLargeDataLayers = "512:relu:bn:dropout=0.1,256:relu:bn:dropout=0.1";
inline constexpr const char* kSmallDataLayers = "100:relu";
std::string adapt_to_data(Recipe& c, std::size_t rows);

nlohmann::json to_json(const Recipe& c);
// config.json: the recipe as a run used it, without where it ran (out) or what it resumed — the
// same from the CLI and from gradflow.fit; --config with it trains the same run anew.
nlohmann::json config_json(const Recipe& c);
// Keys not in Recipe are an error (a misspelt key must not be silently ignored); a file of
// an earlier version is migrated (kConfigVersion).
Recipe from_json(const nlohmann::json& j, const std::string& source);

// The optimizer the configuration names, with its hyper-parameters checked against its
// registration and completed with its defaults into c.optimizer_options (throws on an unknown
// name, a hyper-parameter it does not take or a value out of range).
std::unique_ptr<Optimizer> resolve_optimizer(Recipe& c);
// The optimizer the recipe names with its rate and given hyper-parameters, the others its
// defaults (throws as resolve_optimizer does).
std::unique_ptr<Optimizer> recipe_optimizer(const Recipe& c);
// An optimizer's hyper-parameters but the rate, as config.json's optimizer_options holds them
// (flags as true/false); empty for one not built by make_optimizer.
nlohmann::json optimizer_options_json(const Optimizer& optimizer);

// How often checkpoints are written: every `epochs` epochs, or at most every `seconds`.
struct SaveCadence {
  std::size_t epochs = 0;
  double seconds = 30;
};
// "30s" → at most every 30 seconds; "5" → every 5 epochs ("1": every epoch).
SaveCadence parse_save_every(const std::string& text);

// "1:3,5:2,9:0" → unfreezing stages (epoch, frozen blocks).
std::vector<StagedUnfreezing::Stage> parse_stages(const std::string& text);
// The recipe's unfreezing stages: --stages, else --freeze with --unfreeze-every, else none.
std::vector<StagedUnfreezing::Stage> unfreezing_stages(const Recipe& c);
// The schedule the recipe names, planned over --schedule-epochs (0: --epochs) after the warm-up.
ScheduleOptions recipe_schedule(const Recipe& c);
// --diagnostics-every: a number of steps, 0 (off) or kAutoDiagnostics ("auto").
inline constexpr std::size_t kAutoDiagnostics = static_cast<std::size_t>(-1);
std::size_t parse_diagnostics_every(const std::string& text);

// The trainer a recipe describes with the callbacks that follow from it, owned together: the
// schedule, gradient clipping, early stopping, staged unfreezing and the per-layer diagnostics,
// added in that order (diagnostics see the clipped gradients). The CLI, gradflow.fit, the
// estimators and the studies build theirs with build_training; a front end adds only its own
// observers after them (progress lines, checkpoints, Python's hooks).
struct TrainingRun {
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<LrScheduler> scheduler;
  std::unique_ptr<GradientClipping> clipping;     // clip_norm or clip_value > 0
  std::unique_ptr<EarlyStopping> early;           // early_stop > 0
  std::unique_ptr<StagedUnfreezing> unfreezing;   // stages
  std::unique_ptr<Diagnostics> diagnostics;       // diagnostics_every ≠ 0
};
// `c` resolved: batch size and epochs not 0 (adapt_to_data). `train` is the training set the
// trainer is checked against (and what "auto" diagnostics count steps over); `reducer` splits
// every batch across processes (nullptr: none). Throws std::invalid_argument on a setting the
// model or the data cannot take (more frozen blocks than the model has, …).
TrainingRun build_training(const Recipe& c, Sequential& model, const Loss& loss, Optimizer& optimizer,
                           const Dataset& train, GradientReducer* reducer = nullptr);

// Hidden layers from "256:relu:bn,128:tanh:dropout=0.2": each item UNITS[:ACTIVATION][:bn]
// [:dropout=P] (activation defaults to relu) gives Dense [→ BatchNorm] → activation
// [→ Dropout]; an item "bn" is a BatchNorm layer on its own (first: on the input), "dropout=P"
// a Dropout layer. batchnorm / dropout > 0 apply to every Dense item that does not say.
std::vector<LayerSpec> parse_hidden_layers(const std::string& text, Init init, bool batchnorm = false,
                                           float dropout = 0);
// The --layers, --output and --init that build a network of these specs (Sequential::specs():
// inits resolved) again; nullopt where they cannot say it (a layer outside the blocks, Dense
// layers initialized differently, an activation's non-default argument).
struct NetworkText {
  std::string layers, output, init;
};
std::optional<NetworkText> network_text(const std::vector<LayerSpec>& specs);

}  // namespace gradflow::runs
