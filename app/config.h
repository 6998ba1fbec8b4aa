// The resolved configuration of a `gradflow train` run: defaults, then a config file
// (--config, JSON), then command-line flags. Saved as config.json in the run folder.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradflow/callbacks.h"
#include "gradflow/layer.h"
#include "gradflow/loss.h"
#include "gradflow/optimizer.h"

namespace gradflow::app {

// The defaults are the main job, spelled out in them (what --help shows is what runs):
// 784-512-256-10, BatchNorm before each ReLU and dropout 0.1 after it (written into the
// default --layers), He init, Adam at 4e-3 with cosine annealing, batch 128, 15 epochs — the
// most accurate on a validation split of the candidates within 3/4 of the old 20-epoch
// recipe's compute (bench/recipe_search, bench/results/recipe_search.md).
// A user's --layers means exactly the layers written.
struct TrainConfig {
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
  bool standardize = false;
  std::size_t limit = 0, test_limit = 0;  // use only the first N samples (0: all)
  // model
  std::string layers = "512:relu:bn:dropout=0.1,256:relu:bn:dropout=0.1";
  bool batchnorm = false;  // BatchNorm after every hidden Dense, before its activation
  double dropout = 0;      // Dropout after every hidden activation
  std::string output = "auto";  // softmax | sigmoid | identity | auto (from the loss)
  std::string loss = "auto";    // cross_entropy | bce | mse | auto (mse for regression data)
  std::string init = "default";
  // recipe
  std::string optimizer = "adam";  // sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw
  double lr = 4e-3;
  double momentum = 0;       // momentum/nesterov: 0 means 0.9; rmsprop: as given
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam(w); eps also rmsprop
  bool amsgrad = false, centered = false;
  std::string schedule = "cosine";  // none | step:S[:G] | exponential:G | cosine[:T[:MIN]] | plateau[:P[:F]]
  std::size_t warmup = 0;          // linear warm-up epochs
  double clip_norm = 0, clip_value = 0;  // 0: off
  std::size_t early_stop = 0;            // patience in epochs, 0: off
  std::size_t batch_size = 128;
  bool drop_last = false;  // skip each epoch's last partial batch
  std::size_t epochs = 15;
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

nlohmann::json to_json(const TrainConfig& c);
// Keys not in TrainConfig are an error (a misspelt key must not be silently ignored).
TrainConfig from_json(const nlohmann::json& j, const std::string& source);

// Hidden layers from "256:relu:bn,128:tanh:dropout=0.2": each item UNITS[:ACTIVATION][:bn]
// [:dropout=P] (activation defaults to relu) gives Dense [→ BatchNorm] → activation
// [→ Dropout]; an item "bn" is a BatchNorm layer on its own (first: on the input), "dropout=P"
// a Dropout layer. batchnorm / dropout > 0 apply to every Dense item that does not say.
// The optimizer the configuration names, with its settings (throws on an unknown name or a
// bad setting).
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c);

// How often checkpoints are written: every `epochs` epochs, or at most every `seconds`.
struct SaveCadence {
  std::size_t epochs = 0;
  double seconds = 30;
};
// "30s" → at most every 30 seconds; "5" → every 5 epochs ("1": every epoch).
SaveCadence parse_save_every(const std::string& text);

// "1:3,5:2,9:0" → unfreezing stages (epoch, frozen blocks).
std::vector<StagedUnfreezing::Stage> parse_stages(const std::string& text);

std::vector<LayerSpec> parse_hidden_layers(const std::string& text, Init init, bool batchnorm = false,
                                           float dropout = 0);

}  // namespace gradflow::app
