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

#include "gradflow/detail/quote.h"

#include "commands.h"
#include "runs/data_source.h"
#include "mpi.h"
#include "gradflow/gradflow.h"
#include "progress.h"
#include "runs/report.h"
#include "run_checkpoints.h"
#include "runs/run_folder.h"
#include "run_guard.h"
#include "text.h"

namespace gradflow::app {

namespace fs = std::filesystem;

namespace {

// More threads than this is a typo, not a machine (and each costs a stack).
constexpr int kMaxThreads = 1024;

// ---- settings ----

struct Settings {
  std::unique_ptr<Optimizer> optimizer;
  Init init = Init::Default;
  bool regression = false;
  LossKind loss = LossKind::CrossEntropy;
  std::vector<LayerSpec> hidden;
  std::optional<LayerSpec> output;
  std::vector<StagedUnfreezing::Stage> stages;
  SaveCadence cadence;
  double val_split = 0;  // the recipe's, or 0.1 where selection needs a validation set and none was named
  std::string val_note;  // when a validation set is held out without being asked for
};

void check_fraction(const char* option, double f) {
  if (!(f >= 0 && f < 1)) throw std::invalid_argument(fmt::format("{} must be in [0, 1), got {}", option, f));
}

// Every value of the recipe, parsed and checked here once (whether it came from a flag or a
// --config file). Holds out 10% for validation when selection needs it (Settings::val_split).
Settings parse_settings(const Recipe& cfg) {
  Settings s;
  check_fraction("--val-split", cfg.val_split);
  check_fraction("--test-split", cfg.test_split);
  if (cfg.clip_norm < 0 || cfg.clip_value < 0) throw std::invalid_argument("--clip-norm and --clip-value must be >= 0");
  if (cfg.threads < 0 || cfg.threads > kMaxThreads)
    throw std::invalid_argument(fmt::format("--threads {}: expected 0 (the default count) to {}", cfg.threads, kMaxThreads));
  s.cadence = parse_save_every(cfg.save_every);
  parse_diagnostics_every(cfg.diagnostics_every);
  s.optimizer = recipe_optimizer(cfg);
  // Selection needs data to select on that is neither trained on nor the test set.
  const bool selects = cfg.early_stop > 0 || recipe_schedule(cfg).kind == ScheduleOptions::Kind::Plateau;
  s.val_split = cfg.val_split;
  if (selects && cfg.val.empty() && cfg.val_split == 0) {
    s.val_split = 0.1;
    s.val_note = fmt::format("{} selects on a validation set: holding out 10% of the training data (--val-split "
                             "0.1; --val FILE names one)",
                             cfg.early_stop > 0 ? "--early-stop" : "the plateau schedule");
  }
  s.init = parse_init(cfg.init);
  // The task decides how a CSV label column is read (classes or a numeric target) and the
  // automatic loss; the saved configuration keeps "auto" as the user left it.
  if (cfg.task == "classification" && is_regression(cfg.data))
    throw std::invalid_argument(fmt::format("--task classification: {} is a regression data set", cfg.data));
  s.regression = cfg.task == "regression" ||
                 (cfg.task == "auto" && (is_regression(cfg.data) || (cfg.loss == "mse" && !has_own_test_split(cfg.data))));
  s.loss = parse_loss(cfg.loss != "auto" ? cfg.loss : s.regression ? "mse" : "cross_entropy");
  if (s.regression && s.loss != LossKind::MeanSquaredError)
    throw std::invalid_argument(fmt::format("a regression (--task regression) trains with --loss mse, not {}",
                                            Loss(s.loss).name()));
  // (auto: chosen once the data is read; both forms are checked now, before anything is read)
  s.hidden = parse_hidden_layers(cfg.layers == "auto" ? kLargeDataLayers : cfg.layers, s.init, cfg.batchnorm,
                                 static_cast<float>(cfg.dropout));
  if (cfg.output == "auto") {
    if (s.loss == LossKind::CrossEntropy) s.output = nn::softmax();
    else if (s.loss == LossKind::BinaryCrossEntropy) s.output = nn::sigmoid();
  } else {
    s.output = parse_activation(cfg.output);
  }
  s.stages = unfreezing_stages(cfg);
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

TrainingData load_training_data(const Recipe& cfg, bool regression) {
  if ((!cfg.drop_columns.empty() || !cfg.feature_columns.empty()) && !is_delimited_text(cfg.data))
    throw std::invalid_argument(fmt::format("--drop-columns and --feature-columns name the columns of a CSV file; "
                                            "--data {} is not one",
                                            detail::quote(cfg.data)));
  DataOptions dopt{.label_column = cfg.label_column, .regression = regression, .seed = cfg.seed,
                   .max_classes = cfg.max_classes, .class_names = {}, .feature_names = {},
                   .allow_missing = cfg.impute != "none", .encode_numeric_labels = true,
                   .drop_columns = name_list(cfg.drop_columns), .feature_columns = name_list(cfg.feature_columns)};
  // --limit and --test-limit keep the first samples: an IDX reader need not decode the rest — unless
  // --classes or --per-class choose among all of them first.
  const bool first_samples = cfg.classes.empty() && cfg.per_class == 0;
  DataOptions train_opt = dopt;
  train_opt.limit = first_samples ? cfg.limit : 0;
  TrainingData d{load_data(cfg.data, true, train_opt), std::nullopt, std::nullopt, "", ""};
  // Other files are read as the training data was: by its class names and its columns, the label
  // by its name where the training file's header named it (a file may order its columns otherwise).
  DataOptions other = dopt;
  other.encode_numeric_labels = false;
  other.class_names = d.train.class_names;
  other.feature_names = d.train.feature_names;
  if (!d.train.label_name.empty()) other.label_column = d.train.label_name;
  other.drop_columns.clear();
  other.feature_columns.clear();
  other.ignore_columns = d.train.ignored_columns;
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
    DataOptions test_opt = dopt;
    test_opt.limit = first_samples ? cfg.test_limit : 0;
    d.test = load_data(cfg.data, false, test_opt);
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

std::string default_run_folder() {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string base = fmt::format("runs/{}", stamp), out = base;
  for (int i = 2; fs::exists(out); ++i) out = fmt::format("{}-{}", base, i);
  return out;
}

// ---- inputs: everything is read and checked before anything is written ----

struct Inputs {
  bool resuming = false;
  std::optional<ModelFile> source, checkpoint;  // --init-from, --resume
  TrainingData data;
  Imputer impute;
  Standardizer input;
  InputRange range;        // of the raw training inputs
  std::size_t filled = 0;  // missing values filled
};

// Reused or resumed layers must see their inputs as they were trained on them. Missing values
// are filled first (from the training part only), then standardized.
void prepare_features(const Recipe& cfg, Inputs& in) {
  Dataset& train = in.data.train;
  in.range = in.checkpoint && !in.checkpoint->info.range.empty() ? in.checkpoint->info.range
                                                                   : InputRange::fit(train.x, train.input_form);
  if (in.checkpoint) in.impute = in.checkpoint->info.impute;
  else if (in.source && !in.source->info.impute.empty()) in.impute = in.source->info.impute;
  else if (cfg.impute != "none") in.impute = Imputer::fit(train.x, cfg.impute, train.feature_names);
  if (in.checkpoint) in.input = in.checkpoint->info.input;
  else if (in.source && !in.source->info.input.empty()) in.input = in.source->info.input;
  for (Dataset* d : {&train, in.data.val ? &*in.data.val : nullptr, in.data.test ? &*in.data.test : nullptr}) {
    if (!d) continue;
    if (!in.impute.empty()) {
      if (in.impute.fill.size() != d->features())
        throw std::invalid_argument(fmt::format("the checkpoint's fill values have {} features, the data {}",
                                                in.impute.fill.size(), d->features()));
      in.filled += in.impute.apply(d->x);
    }
    if (d == &train && in.input.empty() && cfg.standardize) in.input = Standardizer::fit(train.x);
    if (!in.input.empty()) {
      if (in.input.mean.size() != d->features())
        throw std::invalid_argument(fmt::format("the checkpoint's input statistics have {} features, the data {}",
                                                in.input.mean.size(), d->features()));
      in.input.apply(d->x);
    }
  }
}

Inputs load_inputs(const Recipe& cfg, const Settings& s) {
  Inputs in;
  in.resuming = !cfg.resume.empty();
  if (!cfg.init_from.empty()) in.source = load_any_model(model_path(cfg.init_from));
  if (in.resuming) {
    // A run killed before its first checkpoint has nothing to continue from: it starts over,
    // in its own folder, with its own configuration.
    const std::string ck = RunFolder(cfg.resume).checkpoint_last();
    if (fs::exists(ck)) in.checkpoint = load_model(ck);
  }
  in.data = load_training_data(cfg, s.regression);
  prepare_features(cfg, in);
  TrainingData& d = in.data;
  d.train.validate(cfg.data);
  if (d.val) {
    d.val->validate(d.val_name);
    check_compatible(d.train, *d.val, d.val_name);
  }
  if (d.test) {
    d.test->validate(d.test_name);
    check_compatible(d.train, *d.test, d.test_name);
  }
  return in;
}

// ---- model ----

struct Model {
  Loss loss;
  std::unique_ptr<Sequential> net;
  std::string reuse_note;  // which layers came from --init-from
};

Model build_model(const Recipe& cfg, const Settings& s, const Inputs& in) {
  const Dataset& train = in.data.train;
  Model m{Loss(s.loss), nullptr, ""};
  std::size_t outputs = train.y.cols();
  if (train.classification())
    outputs = s.loss == LossKind::BinaryCrossEntropy && train.num_classes == 2 ? 1 : train.num_classes;
  if (s.loss == LossKind::CrossEntropy && !train.classification())
    throw std::invalid_argument("cross_entropy needs class labels; use --loss mse for a regression target");
  std::vector<LayerSpec> layers = s.hidden;
  layers.push_back(nn::dense(outputs, s.init));
  if (s.output) layers.push_back(*s.output);
  check_training_memory(train.features(), layers, cfg.batch_size);
  m.net = std::make_unique<Sequential>(train.features(), layers, cfg.seed);
  if (in.source) {
    Sequential& from = *in.source->model;
    if (from.in_features() != m.net->in_features())
      throw std::invalid_argument(fmt::format("--init-from {}: the model takes {} features, the data has {}",
                                              cfg.init_from, from.in_features(), m.net->in_features()));
    const std::size_t copied = copy_matching_layers(*m.net, from);
    if (copied == 0)
      throw std::invalid_argument(fmt::format("--init-from {}: its first layer ({}) does not match this model's ({})",
                                              cfg.init_from, from.layer(0).name(), m.net->layer(0).name()));
    m.reuse_note = fmt::format("layers 0..{} from {}, the rest initialized fresh", copied - 1, cfg.init_from);
  }
  return m;
}

// ---- training: the trainer with the recipe's callbacks (build_training), the checkpoints and a
// resumed run's state ----

struct Training : TrainingRun {
  std::unique_ptr<GradientReducer> reducer;  // under mpirun
  std::unique_ptr<RunFolder> folder;
  std::unique_ptr<RunCheckpoints> checkpoints;
  std::size_t epochs_done = 0;  // resuming: the epochs the checkpoint holds
};

// Under mpirun: BatchNorm either over the whole batch (--sync-batchnorm) or, per rank, over
// slices that must hold 2 samples or more.
void check_slices(const Recipe& cfg, const Dataset& train, Sequential& net, const Training& t) {
  bool has_bn = false;
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (net.layer(i).kind() != LayerKind::BatchNorm) continue;
    has_bn = true;
    if (cfg.sync_batchnorm) net.layer(i).synchronize_across(t.reducer.get());
  }
  if (!has_bn || cfg.sync_batchnorm) return;
  const std::size_t ranks = t.reducer->size(), n = train.size(), b = cfg.batch_size;
  std::size_t smallest = std::min(b, n);
  if (!cfg.drop_last && n % b != 0 && n > b) smallest = t.trainer->folds_last_batch(n) ? b + 1 : n % b;
  if (smallest / ranks < 2)
    throw std::invalid_argument(fmt::format(
        "{} ranks split a batch of {} into slices of {} sample(s): per-rank BatchNorm needs 2 or more (use "
        "--sync-batchnorm, a larger --batch-size{})",
        ranks, smallest, smallest / ranks, n % b != 0 ? " or --drop-last" : ""));
}

Training prepare_training(const Recipe& cfg, const Settings& s, const Inputs& in, Model& m) {
  Training t;
  t.reducer = mpi::make_reducer();
  const Dataset& train = in.data.train;
  Recipe recipe = cfg;
  if (!mpi::root()) recipe.diagnostics_every = "0";  // rank 0 records for all
  static_cast<TrainingRun&>(t) = build_training(recipe, *m.net, m.loss, *s.optimizer, train, t.reducer.get());
  if (t.reducer) check_slices(cfg, train, *m.net, t);
  t.folder = std::make_unique<RunFolder>(cfg.out);
  t.checkpoints = std::make_unique<RunCheckpoints>(
      *t.folder, *m.net, *s.optimizer, *t.trainer, *t.scheduler, t.early.get(), t.unfreezing.get(),
      ModelInfo{.input = in.input, .impute = in.impute, .range = in.range, .feature_names = train.feature_names,
                .label_name = train.label_name, .ignored_columns = train.ignored_columns, .class_names = train.class_names,
                .loss = std::string(m.loss.name())},
      s.cadence);
  if (in.checkpoint) {
    t.epochs_done = t.checkpoints->resume(*in.checkpoint);
    if (t.epochs_done >= cfg.epochs)
      throw std::invalid_argument(fmt::format("the run in {} has finished its {} epochs; pass --epochs N with N > {} "
                                              "to train it further",
                                              cfg.out, t.epochs_done, t.epochs_done));
  }
  return t;
}

// ---- run folder ----
// Returns whether this run created it.
bool open_folder(const RunFolder& folder, bool resuming) {
  const std::string& out = folder.dir();
  if (fs::exists(out) && !fs::is_directory(out))
    throw std::runtime_error(fmt::format("--out {} is a file, not a folder: --out names the run folder to create", out));
  if (!resuming && fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw std::runtime_error(fmt::format("run folder '{}' already exists and is not empty (choose another --out{})",
                                         out, fs::exists(folder.config())
                                                  ? fmt::format(", or continue it with --resume {}", out)
                                                  : ""));
  const bool created = !fs::exists(out);
  fs::create_directories(out);
  return created;
}

// ---- plan ----

// ", left out: column 1 (unnamed: an index), id" for the data line.
std::string left_out(const std::vector<std::string>& ignored) {
  std::string names;
  for (const std::string& c : ignored)
    names += (names.empty() ? "" : ", ") + (c.empty() ? std::string("column 1 (unnamed: an index)") : detail::printable(c));
  return names.empty() ? "" : ", left out: " + names;
}

// " (resuming after epoch 10)", and what a run resumed for more epochs does with its schedule.
std::string resuming_note(const Recipe& cfg, std::size_t done) {
  std::string note = fmt::format(" (resuming after epoch {}", done);
  const std::size_t plan = cfg.schedule_epochs ? cfg.schedule_epochs : cfg.epochs;
  // (only where the plan depends on the epochs: cosine without its own T_MAX)
  if (cfg.epochs > plan && parse_schedule(cfg.schedule, plan, cfg.warmup).t_max !=
                               parse_schedule(cfg.schedule, cfg.epochs, cfg.warmup).t_max)
    note += fmt::format("; the {} schedule keeps its plan over {} epochs and is stepped further as PyTorch's "
                        "scheduler would be — cosine rises again after T_MAX —; --schedule-epochs {} re-plans it over "
                        "the {} epochs, as a run started with --epochs {}",
                        cfg.schedule, plan, cfg.epochs, cfg.epochs, cfg.epochs);
  return note + ")";
}


void print_plan(const Recipe& cfg, const Settings& s, const Inputs& in, const Model& m, const Training& t,
                const std::string& adapted) {
  const Dataset& train = in.data.train;
  const auto& val = in.data.val;
  const auto& test = in.data.test;
  fmt::print("data:   {}: {}{}{}, {}{}{}{}{}\n", cfg.data, plural(train.size(), "training sample"),
             val ? fmt::format(", {} validation samples ({})", val->size(), in.data.val_name) : "",
             test ? fmt::format(", {} test samples ({})", test->size(), in.data.test_name) : ", no test set",
             plural(train.features(), "feature"),
             train.classification() ? ", " + plural(train.num_classes, "class", "classes") : ", regression",
             in.filled ? fmt::format(", {} missing values filled ({})", in.filled, in.impute.strategy) : "",
             in.input.empty() ? "" : ", standardized", left_out(train.ignored_columns));
  if (!s.val_note.empty()) fmt::print("note:   {}\n", s.val_note);
  if (!adapted.empty()) fmt::print("note:   {}\n", adapted);
  fmt::print("model:  {}, {} parameters, init {}\n", m.net->outline(), m.net->num_params(),
             s.init == Init::Default ? "default (He/LeCun/Glorot by activation)" : std::string(to_string(s.init)));
  fmt::print("recipe: {} lr {}{}{}, batch {}, {}, loss {}{}{}, seed {}, {} thread(s), sgemm {}\n",
             s.optimizer->name(), cfg.lr, cfg.schedule == "none" ? "" : fmt::format(" ({} schedule)", cfg.schedule),
             cfg.warmup ? fmt::format(" after {} warm-up epochs", cfg.warmup) : "", cfg.batch_size,
             plural(cfg.epochs, "epoch"),
             m.loss.name(), cfg.clip_norm > 0 || cfg.clip_value > 0 ? ", gradient clipping" : "",
             cfg.early_stop ? ", early stopping after " + plural(cfg.early_stop, "epoch") : "", cfg.seed,
             num_threads(), blas_kernels());
  if (!m.reuse_note.empty()) fmt::print("reuse:  {}\n", m.reuse_note);
  if (t.trainer->folds_last_batch(train.size()))
    fmt::print("note:   {} samples at batch {}: the last batch of 1 sample joins the batch before it (BatchNorm "
               "cannot normalize one sample; --drop-last drops it instead)\n",
               train.size(), cfg.batch_size);
  if (!s.stages.empty()) {
    std::string plan;
    for (const auto& st : s.stages)
      plan += fmt::format("{}from epoch {}: first {} block(s) frozen", plan.empty() ? "" : "; ", st.epoch, st.frozen);
    fmt::print("freeze: {}\n", plan);
  }
  if (mpi::size() > 1)
    fmt::print("ranks:  {} processes (MPI), each {} thread(s) on its slice of every batch of {}\n", mpi::size(),
               num_threads(), cfg.batch_size);
  fmt::print("run:    {}{}\n", t.folder->dir(), in.resuming ? resuming_note(cfg, t.epochs_done) : "");
}

// ---- fit ----

struct Result {
  std::vector<EpochMetrics> history;
  double seconds = 0;
  int code = 0;  // 0, or 128 + the signal that interrupted it
};

// Training stopped on a non-finite loss or update: its message says what was kept.
struct RunDiverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A diverged run is still a run: its page shows the epochs and records up to the stop
// (comparing --init normal with --init he_normal is exactly when one diverges). One that
// finished no epoch keeps nothing: train() removes the folder it made.
[[noreturn]] void diverged(const Recipe& cfg, Training& t, const TrainingDiverged& e) {
  std::fflush(stdout);
  const bool kept = t.checkpoints->save_last_good() || fs::exists(t.folder->model());
  if (kept) t.folder->write_status("diverged", e.what());
  if (cfg.report && kept) {
    try {
      write_report({t.folder->dir()}, t.folder->report());
    } catch (const std::exception&) {
      // the divergence is the error to report
    }
  }
  throw RunDiverged(fmt::format("{}. {}", e.what(),
                                kept ? fmt::format("The last good epoch's model is kept in {}", t.folder->model())
                                     : std::string("No epoch finished, so nothing was saved")));
}

int interrupted(Training& t, const InterruptGuard& interrupts) {
  // Under MPI a rank may stop because another one was signalled.
  const int sig = interrupts.signal() ? interrupts.signal() : SIGINT;
  if (!mpi::root()) return 128 + sig;
  t.checkpoints->save_interrupted();
  const EpochPosition& p = t.trainer->position();
  const std::string said = fmt::format("interrupted by {} after step {} of epoch {}: saved {}; continue with: "
                                       "gradflow train --resume {}",
                                       sig == SIGTERM ? "SIGTERM" : "SIGINT", p.steps_done, p.epoch,
                                       t.folder->checkpoint_last(), t.folder->dir());
  t.folder->write_status("interrupted", said);
  fmt::print("{}\n", said);
  std::fflush(stdout);
  return 128 + sig;
}

Result fit(const Recipe& cfg, const Inputs& in, Training& t) {
  const bool root = mpi::root();
  RunFolder& folder = *t.folder;
  // Records past the checkpoint belong to work that is about to be redone.
  if (root && in.resuming)
    folder.keep_records_up_to(t.epochs_done, in.checkpoint ? t.checkpoints->resumed_steps() : 0);
  if (root) folder.create_metrics();
  Progress progress(cfg.epochs, in.data.train.size(), &folder, in.data.val.has_value());
  if (root) t.trainer->add_callback(progress);
  // The records go into the run folder, the warnings into the progress lines.
  if (Diagnostics* diagnostics = t.diagnostics.get()) {
    folder.open_diagnostics(in.resuming);
    diagnostics->on_record = [&](const DiagnosticsRecord& r) { folder.append_diagnostics(r); };
    diagnostics->on_warning = [&](const DiagnosticWarning& w) { progress.warn(w.message); };
  }
  if (root) t.trainer->add_callback(*t.checkpoints);
  InterruptGuard interrupts;
  t.trainer->add_callback(interrupts);
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const auto& d = in.data;
    r.history = t.trainer->fit(d.train, d.test ? &*d.test : nullptr, d.val ? &*d.val : nullptr);
  } catch (const TrainingDiverged& e) {
    if (!root) throw RunDiverged(e.what());
    diverged(cfg, t, e);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (t.trainer->interrupted()) r.code = interrupted(t, interrupts);

  return r;
}

// ---- outputs ----
void write_outputs(const Recipe& cfg, const Inputs& in, Model& m, Training& t, const Result& r) {
  t.checkpoints->save_model_file();  // the final weights (with early stopping: the best epoch's)
  const auto& test = in.data.test;
  if (test && test->classification())
    t.folder->write_confusion(evaluate(*m.net, m.loss, *test), in.data.train.class_names);
  const EarlyStopping* early = t.early.get();
  if (early && early->stopped_early())
    fmt::print("early stopping: no better validation loss for {}; keeping epoch {} (validation loss {:.4f})\n",
               plural(cfg.early_stop, "epoch"), early->best_epoch(), early->best_loss());
  if (r.history.empty()) throw std::runtime_error("no epoch was trained");
  EpochMetrics last = r.history.back();
  for (const auto& e : r.history)
    if (early && e.epoch == early->best_epoch()) last = e;
  const std::string where =
      fmt::format("after {} in {:.1f} s; model saved to {}", plural(last.epoch, "epoch"), r.seconds, t.folder->model());
  if (test && !std::isnan(last.test_acc))
    fmt::print("test accuracy {:.2f}% (loss {:.4f}) {}\n", 100 * last.test_acc, last.test_loss, where);
  else if (test)
    fmt::print("test loss {:.6f} {}\n", last.test_loss, where);
  else
    fmt::print("train loss {:.6f} {}\n", last.train_loss, where);
  if (cfg.report) {
    write_report({t.folder->dir()}, t.folder->report());
    fmt::print("report: {}\n", t.folder->report());
  }
}


// The recipe as this run uses it, every value resolved: the validation split selection needs,
// the batch size, epochs and network for the data (adapt_to_data: `adapted` says what it chose),
// the optimizer's hyper-parameters, and the run folder (a resumed run's own; else rank 0's choice).
Recipe resolved(const Recipe& given, Settings& s, std::size_t rows, std::string& adapted) {
  Recipe r = given;
  r.val_split = s.val_split;
  adapted = adapt_to_data(r, rows);
  if (!adapted.empty())  // the network as chosen
    s.hidden = parse_hidden_layers(r.layers, s.init, r.batchnorm, static_cast<float>(r.dropout));
  r.optimizer_options = optimizer_options_json(*s.optimizer);
  if (!r.resume.empty()) r.out = r.resume;
  if (r.out.empty() && mpi::root()) r.out = default_run_folder();
  r.out = mpi::broadcast(r.out);
  return r;
}

}  // namespace

// Settings → Inputs → Model → Training → Result, each step a value built from the ones before;
// past the inputs every step reads one resolved recipe.
int train(const Recipe& given) {
  Settings settings = parse_settings(given);
  set_num_threads(given.threads);
  Recipe with_split = given;
  with_split.val_split = settings.val_split;
  Inputs inputs = load_inputs(with_split, settings);
  std::string adapted;
  const Recipe cfg = resolved(given, settings, inputs.data.train.size(), adapted);
  Model model = build_model(cfg, settings, inputs);
  Training training = prepare_training(cfg, settings, inputs, model);
  if (!mpi::root()) return fit(cfg, inputs, training).code;  // the other ranks compute; rank 0 writes
  RunFolder& folder = *training.folder;
  const bool created = open_folder(folder, inputs.resuming);
  // Outside the clean-up below: a run that finds the folder locked must not touch it.
  const RunLock lock(folder.dir());
  remove_temporaries(folder.dir());
  std::error_code no_status;
  fs::remove(folder.status(), no_status);  // how an earlier, resumed run ended: this one says anew
  try {
    // model, checkpoint_last (weights and up to two optimizer moments), checkpoint_best, each
    // briefly twice while it is replaced; plus the logs. A resumed run's files are replaced in
    // place: the space they hold counts (a run stopped by a full disk resumes once space is freed).
    check_free_space(folder.dir(),
                     4.0 * 8 * static_cast<double>(model.net->num_params()) + 1e7 - model_files_bytes(folder.dir()));
    folder.write_config(cfg);
    print_plan(cfg, settings, inputs, model, training, adapted);
    const Result result = fit(cfg, inputs, training);
    if (result.code == 0) {
      write_outputs(cfg, inputs, model, training, result);
      folder.write_status("finished", fmt::format("after {}", plural(result.history.back().epoch, "epoch")));
    }
    return result.code;
  } catch (const RunDiverged&) {
    // Its message says what was kept; a run that kept nothing leaves no folder behind.
    if (created && !fs::exists(folder.model())) {
      std::error_code ec;
      fs::remove_all(folder.dir(), ec);
    }
    throw;
  } catch (const std::exception& e) {
    // A failure before the first checkpoint leaves nothing behind; after it, what was saved stays.
    const RunCheckpoints& saved = *training.checkpoints;
    if (created && !saved.saved()) {
      std::error_code ec;
      fs::remove_all(folder.dir(), ec);
    }
    if (saved.saved())
      throw std::runtime_error(fmt::format("{}. {} keeps the checkpoint of epoch {}; continue with: gradflow train "
                                           "--resume {}",
                                           e.what(), folder.dir(), saved.saved_epoch(), folder.dir()));
    throw;
  }
}

}  // namespace gradflow::app
