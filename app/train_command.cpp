// `gradflow train`, as its steps:
//
//   settings  every value of the configuration parsed and checked once
//   inputs    the model files it continues or reuses, the data (training, validation, test),
//             missing values filled, inputs standardized — all read and checked before
//             anything is written
//   model     the network, with reused layers copied in
//   training  the trainer and its callbacks, and the state of a resumed run
//   folder    the run folder, locked, with its configuration
//   plan      what is about to run, printed
//   fit       training, with interruption and divergence handled
//   outputs   the model, the confusion matrix, the summary line and the report
//
// Under mpirun every rank runs these steps on its slice of each batch (app/mpi.h); rank 0
// alone prints and writes the run folder.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "commands.h"
#include "data_source.h"
#include "mpi.h"
#include "gradflow/gradflow.h"
#include "progress.h"
#include "report.h"
#include "run_checkpoints.h"
#include "run_folder.h"
#include "run_guard.h"

namespace gradflow::app {

namespace fs = std::filesystem;

namespace {

// More threads than this is a typo, not a machine (and each costs a stack).
constexpr int kMaxThreads = 1024;
// --diagnostics-every auto.
constexpr std::size_t kAuto = static_cast<std::size_t>(-1);

// ---- settings ----

struct Settings {
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LrScheduler> scheduler;
  Init init = Init::Default;
  bool regression = false;
  LossKind loss = LossKind::CrossEntropy;
  std::vector<LayerSpec> hidden;
  std::optional<LayerSpec> output;
  std::vector<StagedUnfreezing::Stage> stages;
  SaveCadence cadence;
  std::size_t diagnostics_every = kAuto;
  std::string val_note;  // when a validation set is held out without being asked for
};

std::size_t parse_diagnostics_every(const std::string& text) {
  if (text == "auto") return kAuto;
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n == kAuto)
    throw std::invalid_argument(fmt::format("--diagnostics-every '{}': expected a number of steps, 0 (off) or auto", text));
  return n;
}

void check_fraction(const char* option, double f) {
  if (!(f >= 0 && f < 1)) throw std::invalid_argument(fmt::format("{} must be in [0, 1), got {}", option, f));
}

// Every value of the configuration, parsed and checked here once (whether it came from a flag
// or a --config file). Holds out 10% for validation when selection needs it (cfg.val_split).
Settings parse_settings(TrainConfig& cfg) {
  Settings s;
  if (cfg.batch_size == 0) throw std::invalid_argument("--batch-size must be at least 1");
  if (cfg.epochs == 0) throw std::invalid_argument("--epochs must be at least 1");
  if (!(cfg.lr > 0) || !std::isfinite(cfg.lr))
    throw std::invalid_argument(fmt::format("--lr must be a positive number, got {}", cfg.lr));
  check_fraction("--val-split", cfg.val_split);
  check_fraction("--test-split", cfg.test_split);
  if (cfg.clip_norm < 0 || cfg.clip_value < 0) throw std::invalid_argument("--clip-norm and --clip-value must be >= 0");
  if (cfg.threads < 0 || cfg.threads > kMaxThreads)
    throw std::invalid_argument(fmt::format("--threads {}: expected 0 (the default count) to {}", cfg.threads, kMaxThreads));
  s.cadence = parse_save_every(cfg.save_every);
  s.diagnostics_every = parse_diagnostics_every(cfg.diagnostics_every);
  s.optimizer = make_optimizer(cfg);
  s.scheduler = std::make_unique<LrScheduler>(parse_schedule(cfg.schedule, cfg.epochs, cfg.warmup));
  // Selection needs data to select on that is neither trained on nor the test set.
  const bool selects = cfg.early_stop > 0 || s.scheduler->options().kind == ScheduleOptions::Kind::Plateau;
  if (selects && cfg.val.empty() && cfg.val_split == 0) {
    cfg.val_split = 0.1;
    s.val_note = fmt::format("{} selects on a validation set: holding out 10% of the training data (--val-split "
                             "0.1; --val FILE names one)",
                             cfg.early_stop > 0 ? "--early-stop" : "the plateau schedule");
  }
  s.init = parse_init(cfg.init);
  // The task decides how a CSV label column is read (classes or a numeric target) and the
  // automatic loss; the saved configuration keeps "auto" as the user left it.
  if (cfg.task != "auto" && cfg.task != "classification" && cfg.task != "regression")
    throw std::invalid_argument(fmt::format("--task '{}': expected auto, classification or regression", cfg.task));
  if (cfg.task == "classification" && is_regression(cfg.data))
    throw std::invalid_argument(fmt::format("--task classification: {} is a regression data set", cfg.data));
  if (cfg.impute != "none" && cfg.impute != "mean" && cfg.impute != "median")
    throw std::invalid_argument(fmt::format("--impute '{}': expected none, mean or median", cfg.impute));
  s.regression = cfg.task == "regression" ||
                 (cfg.task == "auto" && (is_regression(cfg.data) || (cfg.loss == "mse" && !has_own_test_split(cfg.data))));
  s.loss = parse_loss(cfg.loss != "auto" ? cfg.loss : s.regression ? "mse" : "cross_entropy");
  if (s.regression && s.loss != LossKind::MeanSquaredError)
    throw std::invalid_argument(fmt::format("a regression (--task regression) trains with --loss mse, not {}",
                                            Loss(s.loss).name()));
  s.hidden = parse_hidden_layers(cfg.layers, s.init, cfg.batchnorm, static_cast<float>(cfg.dropout));
  if (cfg.output == "auto") {
    if (s.loss == LossKind::CrossEntropy) s.output = nn::softmax();
    else if (s.loss == LossKind::BinaryCrossEntropy) s.output = nn::sigmoid();
  } else {
    s.output = parse_activation(cfg.output);
  }
  if (!cfg.stages.empty()) s.stages = parse_stages(cfg.stages);
  else if (cfg.freeze > 0) s.stages = StagedUnfreezing::every(cfg.freeze, cfg.unfreeze_every);
  return s;
}

// ---- inputs ----

// Labels of a validation or test set must be classes the model was built for.
void check_compatible(const Dataset& train, const Dataset& other, const std::string& name) {
  if (other.features() != train.features())
    throw std::runtime_error(fmt::format("data '{}' has {} features, the training data {}", name, other.features(),
                                         train.features()));
  if (train.classification())
    for (std::size_t i = 0; i < other.size(); ++i)
      if (other.y[i] >= static_cast<float>(train.num_classes))
        throw std::runtime_error(fmt::format("data '{}': label {} of sample {} is out of range: the training "
                                             "data has {} classes (0..{})",
                                             name, other.y[i], i, train.num_classes, train.num_classes - 1));
}

std::pair<Dataset, Dataset> split(const Dataset& d, double fraction, std::uint64_t seed, const char* option) {
  try {
    return split_stratified(d, fraction, seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{} {}: {}", option, fraction, e.what()));
  }
}

// The training, validation and test sets the configuration names, with the class selection
// and limits applied. The validation set is what selection (early stopping, the plateau
// schedule, checkpoint_best) looks at; the test set is only reported.
struct TrainingData {
  Dataset train;
  std::optional<Dataset> val, test;
  std::string val_name, test_name;
};

TrainingData load_training_data(const TrainConfig& cfg, bool regression) {
  DataOptions dopt{.label_column = cfg.label_column, .regression = regression, .seed = cfg.seed,
                   .max_classes = cfg.max_classes, .class_names = {}, .feature_names = {},
                   .allow_missing = cfg.impute != "none"};
  TrainingData d{load_data(cfg.data, true, dopt), std::nullopt, std::nullopt, "", ""};
  // Other files are read as the training data was: by its class names and its columns.
  DataOptions other = dopt;
  other.class_names = d.train.class_names;
  other.feature_names = d.train.feature_names;
  const auto held_out = [&](double f) { return fmt::format("{} ({:g}% held out)", cfg.data, 100 * f); };
  if (cfg.test == "none") {
    if (cfg.test_split > 0) throw std::invalid_argument("--test none and --test-split: choose one");
  } else if (!cfg.test.empty()) {
    if (cfg.test_split > 0) throw std::invalid_argument("--test and --test-split both name a test set: choose one");
    d.test = load_data(cfg.test, false, other);
    d.test_name = cfg.test;
  } else if (cfg.test_split > 0) {
    if (has_own_test_split(cfg.data))
      throw std::invalid_argument(fmt::format("--test-split: {} has its own test set (hold out validation data "
                                              "with --val-split instead)",
                                              cfg.data));
    std::tie(d.train, d.test) = split(d.train, cfg.test_split, cfg.seed, "--test-split");
    d.test_name = held_out(cfg.test_split);
  } else if (has_own_test_split(cfg.data)) {
    d.test = load_data(cfg.data, false, dopt);
    d.test_name = d.test->name;
  }
  if (!cfg.val.empty()) {
    if (cfg.val_split > 0) throw std::invalid_argument("--val and --val-split both name a validation set: choose one");
    d.val = load_data(cfg.val, false, other);
    d.val_name = cfg.val;
  }
  if (!cfg.classes.empty()) {
    d.train = select_classes(d.train, cfg.classes);
    if (d.test) *d.test = select_classes(*d.test, cfg.classes);
    if (d.val) *d.val = select_classes(*d.val, cfg.classes);
  }
  if (cfg.per_class > 0) d.train = first_per_class(d.train, cfg.per_class);
  d.train = head(d.train, cfg.limit);
  // Drawn from what training may see, with a seed of its own (not the test split's draw).
  if (cfg.val_split > 0) {
    std::tie(d.train, d.val) = split(d.train, cfg.val_split, cfg.seed + 1, "--val-split");
    d.val_name = held_out(cfg.val_split);
  }
  if (d.test) *d.test = head(*d.test, cfg.test_limit);
  return d;
}

// ---- model ----

// Refuses, before anything is allocated, a network that cannot be trained in this machine's
// memory: `--layers 100000000:relu` used to run for a while and die of std::bad_alloc.
// Per parameter: the weight, its gradient, up to three optimizer buffers (Adam's moments and
// AMSGrad's maximum) and the diagnostics' copy — 6 floats (checkpoints are written straight
// from these); per unit of every layer's output: the outputs and their gradients over a
// training batch, or the outputs over an evaluation batch of 1000. (784-300000-10 with
// BatchNorm and dropout: estimated 10.5 GB, measured peak 9.2 GB.)
void check_memory(std::size_t in_features, const std::vector<LayerSpec>& layers, std::size_t batch) {
  double params = 0, units = static_cast<double>(in_features), width = units;
  for (const LayerSpec& s : layers) {
    if (s.kind == LayerKind::Dense) {
      params += width * static_cast<double>(s.units) + static_cast<double>(s.units);
      width = static_cast<double>(s.units);
    } else if (s.kind == LayerKind::BatchNorm) {
      params += 2 * width;
    }
    units += width;
  }
  const double need = 4.0 * (6 * params + std::max(2.0 * static_cast<double>(batch), 1000.0) * units);
  const double have = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (have > 0 && need > 0.8 * have)
    throw std::invalid_argument(fmt::format(
        "the network ({:.3g} parameters, batch {}) needs about {:.1f} GB to train, more than this machine's {:.1f} GB "
        "allows; use fewer or narrower layers (--layers) or a smaller --batch-size",
        params, batch, need / 1e9, have / 1e9));
}

std::string describe(const Sequential& m) {
  std::string s = fmt::format("{}", m.in_features());
  for (std::size_t i = 0; i < m.size(); ++i) {
    const Layer& l = m.layer(i);
    if (l.kind() == LayerKind::Dense) s += fmt::format("-{}", l.out_features());
    else if (l.kind() == LayerKind::BatchNorm) s += "(bn)";
    else if (l.kind() == LayerKind::Dropout) s += fmt::format("(dropout {})", l.spec().p);
    else if (l.kind() != LayerKind::Identity) s += fmt::format("({})", to_string(l.kind()));
  }
  return s;
}

std::string default_run_folder() {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string base = fmt::format("runs/{}", stamp), out = base;
  for (int i = 2; fs::exists(out); ++i) out = fmt::format("{}-{}", base, i);
  return out;
}

// One training run, step by step (see the top of this file). Members are filled in step order.
class TrainRun {
 public:
  explicit TrainRun(TrainConfig cfg) : cfg_(std::move(cfg)), settings_(parse_settings(cfg_)) {}

  int run() {
    set_num_threads(cfg_.threads);
    load_inputs();
    build_model();
    prepare_training();
    if (!root_) return fit();  // the other ranks compute; rank 0 writes
    open_folder();
    // Outside the clean-up below: a run that finds the folder locked must not touch it.
    const RunLock lock(folder_->dir());
    remove_temporaries(folder_->dir());
    try {
      // model, checkpoint_last (weights and up to two optimizer moments), checkpoint_best, each
      // briefly twice while it is replaced; plus the logs.
      check_free_space(folder_->dir(), 4.0 * 8 * static_cast<double>(model_->num_params()) + 1e7);
      folder_->write_config(cfg_);
      print_plan();
      const int code = fit();
      if (code == 0) write_outputs();
      return code;
    } catch (const std::exception& e) {
      // A failure before the first checkpoint leaves nothing behind; after it, what was saved
      // stays (a diverged run's message already says so).
      if (created_ && !diverged_ && !checkpoints_->saved()) {
        std::error_code ec;
        fs::remove_all(folder_->dir(), ec);
      }
      if (checkpoints_->saved() && !diverged_)
        throw std::runtime_error(fmt::format("{}. {} keeps the checkpoint of epoch {}; continue with: gradflow train "
                                             "--resume {}",
                                             e.what(), folder_->dir(), checkpoints_->saved_epoch(), folder_->dir()));
      throw;
    }
  }

 private:
  // ---- inputs: everything is read and checked before anything is written ----
  void load_inputs() {
    resuming_ = !cfg_.resume.empty();
    if (resuming_) cfg_.out = cfg_.resume;
    if (!cfg_.init_from.empty()) source_ = load_model(model_path(cfg_.init_from));
    if (resuming_) {
      // A run killed before its first checkpoint has nothing to continue from: it starts over,
      // in its own folder, with its own configuration.
      const std::string ck = RunFolder(cfg_.out).checkpoint_last();
      if (fs::exists(ck)) checkpoint_ = load_model(ck);
    }
    data_ = load_training_data(cfg_, settings_.regression);
    Dataset& train = data_.train;
    // Reused or resumed layers must see their inputs as they were trained on them. Missing
    // values are filled first (from the training part only), then standardized.
    if (checkpoint_) impute_ = checkpoint_->info.impute;
    else if (source_ && !source_->info.impute.empty()) impute_ = source_->info.impute;
    else if (cfg_.impute != "none") impute_ = Imputer::fit(train.x, cfg_.impute, train.feature_names);
    if (checkpoint_) input_ = checkpoint_->info.input;
    else if (source_ && !source_->info.input.empty()) input_ = source_->info.input;
    for (Dataset* d : {&train, data_.val ? &*data_.val : nullptr, data_.test ? &*data_.test : nullptr}) {
      if (!d) continue;
      if (!impute_.empty()) {
        if (impute_.fill.size() != d->features())
          throw std::invalid_argument(fmt::format("the checkpoint's fill values have {} features, the data {}",
                                                  impute_.fill.size(), d->features()));
        filled_ += impute_.apply(d->x);
      }
      if (d == &train && input_.empty() && cfg_.standardize) input_ = Standardizer::fit(train.x);
      if (!input_.empty()) {
        if (input_.mean.size() != d->features())
          throw std::invalid_argument(fmt::format("the checkpoint's input statistics have {} features, the data {}",
                                                  input_.mean.size(), d->features()));
        input_.apply(d->x);
      }
    }
    train.validate(cfg_.data);
    if (data_.val) {
      data_.val->validate(data_.val_name);
      check_compatible(train, *data_.val, data_.val_name);
    }
    if (data_.test) {
      data_.test->validate(data_.test_name);
      check_compatible(train, *data_.test, data_.test_name);
    }
  }

  // ---- model ----
  void build_model() {
    const Dataset& train = data_.train;
    loss_.emplace(settings_.loss);
    std::size_t outputs = train.y.cols();
    if (train.classification())
      outputs = settings_.loss == LossKind::BinaryCrossEntropy && train.num_classes == 2 ? 1 : train.num_classes;
    if (settings_.loss == LossKind::CrossEntropy && !train.classification())
      throw std::invalid_argument("cross_entropy needs class labels; use --loss mse for a regression target");
    std::vector<LayerSpec> layers = settings_.hidden;
    layers.push_back(nn::dense(outputs, settings_.init));
    if (settings_.output) layers.push_back(*settings_.output);
    check_memory(train.features(), layers, cfg_.batch_size);
    model_.emplace(train.features(), layers, cfg_.seed);
    if (source_) {
      if (source_->model->in_features() != model_->in_features())
        throw std::invalid_argument(fmt::format("--init-from {}: the model takes {} features, the data has {}",
                                                cfg_.init_from, source_->model->in_features(), model_->in_features()));
      const std::size_t copied = copy_matching_layers(*model_, *source_->model);
      if (copied == 0)
        throw std::invalid_argument(fmt::format("--init-from {}: its first layer ({}) does not match this model's ({})",
                                                cfg_.init_from, source_->model->layer(0).name(),
                                                model_->layer(0).name()));
      reuse_note_ = fmt::format("layers 0..{} from {}, the rest initialized fresh", copied - 1, cfg_.init_from);
    }
    for (const auto& st : settings_.stages)
      if (st.frozen >= count_blocks(*model_))
        throw std::invalid_argument(fmt::format("cannot freeze {} blocks: the model has {} Dense layers (the output's "
                                                "must stay trainable)",
                                                st.frozen, count_blocks(*model_)));
  }

  // ---- training: the trainer, the callbacks that shape it, and a resumed run's state ----
  void prepare_training() {
    reducer_ = mpi::make_reducer();
    TrainOptions topt{.epochs = cfg_.epochs, .batch_size = cfg_.batch_size, .shuffle = cfg_.shuffle,
                      .seed = cfg_.seed, .drop_last = cfg_.drop_last};
    topt.reducer = reducer_.get();
    trainer_.emplace(*model_, *loss_, *settings_.optimizer, topt);
    trainer_->check(data_.train);
    if (reducer_) check_slices();
    trainer_->add_callback(*settings_.scheduler);
    if (cfg_.clip_norm > 0 || cfg_.clip_value > 0) {
      clipping_.emplace(cfg_.clip_norm > 0 ? std::optional<double>(cfg_.clip_norm) : std::nullopt,
                        cfg_.clip_value > 0 ? std::optional<double>(cfg_.clip_value) : std::nullopt);
      trainer_->add_callback(*clipping_);
    }
    if (cfg_.early_stop > 0) {
      early_.emplace(cfg_.early_stop);
      trainer_->add_callback(*early_);
    }
    if (!settings_.stages.empty()) {
      unfreezing_.emplace(settings_.stages, cfg_.unfrozen_lr_scale);
      trainer_->add_callback(*unfreezing_);
    }
    if (cfg_.out.empty() && root_) cfg_.out = default_run_folder();
    cfg_.out = mpi::broadcast(cfg_.out);  // rank 0's choice of folder, on every rank
    folder_.emplace(cfg_.out);
    const Dataset& train = data_.train;
    checkpoints_.emplace(*folder_, *model_, *settings_.optimizer, *trainer_, *settings_.scheduler,
                         early_ ? &*early_ : nullptr, unfreezing_ ? &*unfreezing_ : nullptr,
                         ModelInfo{.input = input_,
                                   .impute = impute_,
                                   .feature_names = train.feature_names,
                                   .label_name = train.label_name,
                                   .class_names = train.class_names,
                                   .loss = std::string(loss_->name())},
                         settings_.cadence);
    if (checkpoint_) {
      epochs_done_ = checkpoints_->resume(*checkpoint_);
      if (epochs_done_ >= cfg_.epochs)
        throw std::invalid_argument(fmt::format("the run in {} has finished its {} epochs; pass --epochs N with N > {} "
                                                "to train it further",
                                                cfg_.out, epochs_done_, epochs_done_));
    }
  }

  // Under mpirun: BatchNorm either over the whole batch (--sync-batchnorm) or, per rank, over
  // slices that must hold 2 samples or more.
  void check_slices() {
    bool has_bn = false;
    for (std::size_t i = 0; i < model_->size(); ++i) {
      if (model_->layer(i).kind() != LayerKind::BatchNorm) continue;
      has_bn = true;
      if (cfg_.sync_batchnorm) model_->layer(i).synchronize_across(reducer_.get());
    }
    if (!has_bn || cfg_.sync_batchnorm) return;
    const std::size_t ranks = reducer_->size(), n = data_.train.size(), b = cfg_.batch_size;
    std::size_t smallest = std::min(b, n);
    if (!cfg_.drop_last && n % b != 0 && n > b) smallest = trainer_->folds_last_batch(n) ? b + 1 : n % b;
    if (smallest / ranks < 2)
      throw std::invalid_argument(fmt::format(
          "{} ranks split a batch of {} into slices of {} sample(s): per-rank BatchNorm needs 2 or more (use "
          "--sync-batchnorm, a larger --batch-size{})",
          ranks, smallest, smallest / ranks, n % b != 0 ? " or --drop-last" : ""));
  }

  // ---- run folder ----
  void open_folder() {
    const std::string& out = folder_->dir();
    if (!resuming_ && fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
      throw std::runtime_error(fmt::format("run folder '{}' already exists and is not empty (choose another --out{})",
                                           out, fs::exists(folder_->config())
                                                    ? fmt::format(", or continue it with --resume {}", out)
                                                    : ""));
    created_ = !fs::exists(out);
    fs::create_directories(out);
  }

  // ---- plan ----
  void print_plan() const {
    const Dataset& train = data_.train;
    const auto& val = data_.val;
    const auto& test = data_.test;
    fmt::print("data:   {}: {} training samples{}{}, {} features{}{}{}\n", cfg_.data, train.size(),
               val ? fmt::format(", {} validation samples ({})", val->size(), data_.val_name) : "",
               test ? fmt::format(", {} test samples ({})", test->size(), data_.test_name) : ", no test set",
               train.features(), train.classification() ? fmt::format(", {} classes", train.num_classes) : ", regression",
               filled_ ? fmt::format(", {} missing values filled ({})", filled_, impute_.strategy) : "",
               input_.empty() ? "" : ", standardized");
    if (!settings_.val_note.empty()) fmt::print("note:   {}\n", settings_.val_note);
    fmt::print("model:  {}, {} parameters, init {}\n", describe(*model_), model_->num_params(),
               settings_.init == Init::Default ? "default (He/LeCun/Glorot by activation)"
                                               : std::string(to_string(settings_.init)));
    fmt::print("recipe: {} lr {}{}{}, batch {}, {} epochs, loss {}{}{}, seed {}, {} thread(s), sgemm {}\n",
               settings_.optimizer->name(), cfg_.lr,
               cfg_.schedule == "none" ? "" : fmt::format(" ({} schedule)", cfg_.schedule),
               cfg_.warmup ? fmt::format(" after {} warm-up epochs", cfg_.warmup) : "", cfg_.batch_size, cfg_.epochs,
               loss_->name(), cfg_.clip_norm > 0 || cfg_.clip_value > 0 ? ", gradient clipping" : "",
               cfg_.early_stop ? fmt::format(", early stopping after {} epochs", cfg_.early_stop) : "", cfg_.seed,
               num_threads(), blas_kernels());
    if (!reuse_note_.empty()) fmt::print("reuse:  {}\n", reuse_note_);
    if (trainer_->folds_last_batch(train.size()))
      fmt::print("note:   {} samples at batch {}: the last batch of 1 sample joins the batch before it (BatchNorm "
                 "cannot normalize one sample; --drop-last drops it instead)\n",
                 train.size(), cfg_.batch_size);
    if (!settings_.stages.empty()) {
      std::string plan;
      for (const auto& st : settings_.stages)
        plan += fmt::format("{}from epoch {}: first {} block(s) frozen", plan.empty() ? "" : "; ", st.epoch, st.frozen);
      fmt::print("freeze: {}\n", plan);
    }
    if (mpi::size() > 1)
      fmt::print("ranks:  {} processes (MPI), each {} thread(s) on its slice of every batch of {}\n", mpi::size(),
                 num_threads(), cfg_.batch_size);
    fmt::print("run:    {}{}\n", folder_->dir(), resuming_ ? fmt::format(" (resuming after epoch {})", epochs_done_) : "");
  }

  // ---- fit ----
  // Returns the exit code: 0, or 128 + the signal that interrupted it.
  int fit() {
    // Records past the checkpoint belong to work that is about to be redone.
    if (root_ && resuming_) folder_->keep_records_up_to(epochs_done_, checkpoint_ ? checkpoints_->resumed_steps() : 0);
    if (root_) folder_->create_metrics();
    Progress progress(cfg_.epochs, data_.train.size(), &*folder_, data_.val.has_value());
    if (root_) trainer_->add_callback(progress);
    std::optional<Diagnostics> diagnostics;
    if (root_ && settings_.diagnostics_every > 0) {
      // auto: every 50 steps, but at least ~20 records in a short run (and always the last step).
      const std::size_t steps = cfg_.epochs * trainer_->steps_per_epoch(data_.train.size());
      const std::size_t every = settings_.diagnostics_every != kAuto ? settings_.diagnostics_every
                                                                     : std::clamp<std::size_t>(steps / 20, 1, 50);
      diagnostics.emplace(DiagnosticsOptions{.every = every});
      folder_->open_diagnostics(resuming_);
      diagnostics->on_record = [&](const DiagnosticsRecord& r) { folder_->append_diagnostics(r); };
      diagnostics->on_warning = [&](const DiagnosticWarning& w) { progress.warn(w.message); };
      trainer_->add_callback(*diagnostics);
    }
    if (root_) trainer_->add_callback(*checkpoints_);
    InterruptGuard interrupts;
    trainer_->add_callback(interrupts);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      history_ = trainer_->fit(data_.train, data_.test ? &*data_.test : nullptr, data_.val ? &*data_.val : nullptr);
    } catch (const TrainingDiverged& e) {
      diverged_ = true;
      if (!root_) throw;
      std::fflush(stdout);
      folder_->flush_diagnostics();
      const bool kept = checkpoints_->save_last_good() || fs::exists(folder_->model());
      // A diverged run is still a run: its page shows the epochs and records up to the stop
      // (comparing --init normal with --init he_normal is exactly when one diverges).
      if (cfg_.report) {
        try {
          write_report({folder_->dir()}, folder_->report());
        } catch (const std::exception&) {
          // the divergence is the error to report
        }
      }
      throw std::runtime_error(fmt::format(
          "{}. {}", e.what(),
          kept ? fmt::format("The last good epoch's model is kept in {}", folder_->model())
               : fmt::format("No epoch finished, so no model was saved in {}", folder_->dir())));
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (trainer_->interrupted()) {
      // Under MPI a rank may stop because another one was signalled.
      const int sig = interrupts.signal() ? interrupts.signal() : SIGINT;
      if (!root_) return 128 + sig;
      checkpoints_->save_interrupted();
      folder_->flush_diagnostics();
      const EpochPosition& p = trainer_->position();
      fmt::print("interrupted by {} after step {} of epoch {}: saved {}; continue with: gradflow train --resume {}\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", p.steps_done, p.epoch, folder_->checkpoint_last(),
                 folder_->dir());
      std::fflush(stdout);
      return 128 + sig;
    }
    if (root_) folder_->close_diagnostics();
    return 0;
  }

  // ---- outputs ----
  void write_outputs() {
    checkpoints_->save_model_file();  // the final weights (with early stopping: the best epoch's)
    const auto& test = data_.test;
    if (test && test->classification())
      folder_->write_confusion(evaluate(*model_, *loss_, *test), data_.train.class_names);
    if (early_ && early_->stopped_early())
      fmt::print("early stopping: no better validation loss for {} epochs; keeping epoch {} (validation loss {:.4f})\n",
                 cfg_.early_stop, early_->best_epoch(), early_->best_loss());
    if (history_.empty()) throw std::runtime_error("no epoch was trained");
    EpochMetrics last = history_.back();
    for (const auto& m : history_)
      if (early_ && m.epoch == early_->best_epoch()) last = m;
    const std::string where = fmt::format("after {} epochs in {:.1f} s; model saved to {}", last.epoch, seconds_,
                                          folder_->model());
    if (test && !std::isnan(last.test_acc))
      fmt::print("test accuracy {:.2f}% (loss {:.4f}) {}\n", 100 * last.test_acc, last.test_loss, where);
    else if (test)
      fmt::print("test loss {:.6f} {}\n", last.test_loss, where);
    else
      fmt::print("train loss {:.6f} {}\n", last.train_loss, where);
    if (cfg_.report) {
      write_report({folder_->dir()}, folder_->report());
      fmt::print("report: {}\n", folder_->report());
    }
  }

  TrainConfig cfg_;
  Settings settings_;
  bool root_ = mpi::root();
  std::unique_ptr<GradientReducer> reducer_;
  bool resuming_ = false, created_ = false, diverged_ = false;
  std::optional<ModelFile> source_, checkpoint_;  // --init-from, --resume
  TrainingData data_;
  Imputer impute_;
  Standardizer input_;
  std::size_t filled_ = 0;
  std::optional<Loss> loss_;
  std::optional<Sequential> model_;
  std::string reuse_note_;
  std::optional<Trainer> trainer_;
  std::optional<GradientClipping> clipping_;
  std::optional<EarlyStopping> early_;
  std::optional<StagedUnfreezing> unfreezing_;
  std::optional<RunFolder> folder_;
  std::optional<RunCheckpoints> checkpoints_;
  std::size_t epochs_done_ = 0;
  std::vector<EpochMetrics> history_;
  double seconds_ = 0;
};

}  // namespace

int train(const TrainConfig& config) { return TrainRun(config).run(); }

}  // namespace gradflow::app
