#include "commands.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data_source.h"
#include "gradflow/gradflow.h"
#include "checkpointer.h"
#include "progress.h"
#include "report.h"
#include "run_guard.h"

namespace gradflow::app {

namespace fs = std::filesystem;

namespace {

std::string default_run_folder() {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string base = fmt::format("runs/{}", stamp), out = base;
  for (int i = 2; fs::exists(out); ++i) out = fmt::format("{}-{}", base, i);
  return out;
}

// Labels of a test set must be classes the model was built for.
void check_compatible(const Dataset& train, const Dataset& test, const std::string& test_name) {
  if (test.features() != train.features())
    throw std::runtime_error(fmt::format("test data '{}' has {} features, the training data {}", test_name,
                                         test.features(), train.features()));
  if (train.classification())
    for (std::size_t i = 0; i < test.size(); ++i)
      if (test.y[i] >= static_cast<float>(train.num_classes))
        throw std::runtime_error(fmt::format("test data '{}': label {} of sample {} is out of range: the training "
                                             "data has {} classes (0..{})",
                                             test_name, test.y[i], i, train.num_classes, train.num_classes - 1));
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

std::string model_path(const std::string& m) {
  return fs::is_directory(m) ? (fs::path(m) / "model.safetensors").string() : m;
}

// The training, validation and test sets the configuration names, with the class selection
// and limits applied. The validation set is what selection (early stopping, the plateau
// schedule, checkpoint_best) looks at; the test set is only reported.
struct TrainingData {
  Dataset train;
  std::optional<Dataset> val, test;
  std::string val_name, test_name;
};

std::pair<Dataset, Dataset> split(const Dataset& d, double fraction, std::uint64_t seed, const char* option) {
  try {
    return split_stratified(d, fraction, seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{} {}: {}", option, fraction, e.what()));
  }
}

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
  if (!cfg.test.empty()) {
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

}  // namespace

namespace {

// More threads than this is a typo, not a machine (and each costs a stack).
constexpr int kMaxThreads = 1024;

// --diagnostics-every: a step count, 0 (off) or auto (kAuto).
constexpr std::size_t kAuto = static_cast<std::size_t>(-1);
std::size_t parse_diagnostics_every(const std::string& text) {
  if (text == "auto") return kAuto;
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n == kAuto)
    throw std::invalid_argument(fmt::format("--diagnostics-every '{}': expected a number of steps, 0 (off) or auto", text));
  return n;
}

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

}  // namespace

int train(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  if (cfg.batch_size == 0) throw std::invalid_argument("--batch-size must be at least 1");
  if (cfg.epochs == 0) throw std::invalid_argument("--epochs must be at least 1");
  if (!(cfg.lr > 0) || !std::isfinite(cfg.lr))
    throw std::invalid_argument(fmt::format("--lr must be a positive number, got {}", cfg.lr));
  for (const auto& [name, f] : {std::pair{"--val-split", cfg.val_split}, std::pair{"--test-split", cfg.test_split}})
    if (f < 0 || f >= 1) throw std::invalid_argument(fmt::format("{} must be in [0, 1), got {}", name, f));
  const SaveCadence cadence = parse_save_every(cfg.save_every);
  const std::size_t diagnostics_every = parse_diagnostics_every(cfg.diagnostics_every);
  if (cfg.clip_norm < 0 || cfg.clip_value < 0) throw std::invalid_argument("--clip-norm and --clip-value must be >= 0");
  std::unique_ptr<Optimizer> optimizer = make_optimizer(cfg);
  LrScheduler scheduler(parse_schedule(cfg.schedule, cfg.epochs, cfg.warmup));
  const ScheduleOptions& schedule = scheduler.options();
  // Selection needs data to select on that is neither trained on nor the test set.
  const bool selects = cfg.early_stop > 0 || schedule.kind == ScheduleOptions::Kind::Plateau;
  std::string val_note;
  if (selects && cfg.val.empty() && cfg.val_split == 0) {
    cfg.val_split = 0.1;
    val_note = fmt::format("{} selects on a validation set: holding out 10% of the training data (--val-split 0.1; "
                           "--val FILE names one)",
                           cfg.early_stop > 0 ? "--early-stop" : "the plateau schedule");
  }
  if (cfg.threads < 0 || cfg.threads > kMaxThreads)
    throw std::invalid_argument(fmt::format("--threads {}: expected 0 (the default count) to {}", cfg.threads, kMaxThreads));
  const Init init = parse_init(cfg.init);
  // The task decides how a CSV label column is read (classes or a numeric target) and the
  // automatic loss; the saved configuration keeps "auto" as the user left it.
  const bool regression = cfg.task == "regression" ||
                          (cfg.task == "auto" && (is_regression(cfg.data) ||
                                                  (cfg.loss == "mse" && !has_own_test_split(cfg.data))));
  if (cfg.task != "auto" && cfg.task != "classification" && cfg.task != "regression")
    throw std::invalid_argument(fmt::format("--task '{}': expected auto, classification or regression", cfg.task));
  if (cfg.task == "classification" && is_regression(cfg.data))
    throw std::invalid_argument(fmt::format("--task classification: {} is a regression data set", cfg.data));
  if (cfg.impute != "none" && cfg.impute != "mean" && cfg.impute != "median")
    throw std::invalid_argument(fmt::format("--impute '{}': expected none, mean or median", cfg.impute));
  const Loss loss(parse_loss(cfg.loss != "auto" ? cfg.loss : regression ? "mse" : "cross_entropy"));
  if (regression && loss.kind() != LossKind::MeanSquaredError)
    throw std::invalid_argument(fmt::format("a regression (--task regression) trains with --loss mse, not {}", loss.name()));
  auto hidden = parse_hidden_layers(cfg.layers, init, cfg.batchnorm, static_cast<float>(cfg.dropout));
  std::optional<LayerSpec> out_act;
  if (cfg.output == "auto") {
    if (loss.kind() == LossKind::CrossEntropy) out_act = nn::softmax();
    else if (loss.kind() == LossKind::BinaryCrossEntropy) out_act = nn::sigmoid();
  } else {
    out_act = parse_activation(cfg.output);
  }
  set_num_threads(cfg.threads);
  const bool resuming = !cfg.resume.empty();
  if (resuming) cfg.out = cfg.resume;
  std::optional<ModelFile> source, checkpoint;  // --init-from, --resume
  if (!cfg.init_from.empty()) source = load_model(model_path(cfg.init_from));
  if (resuming) {
    // A run killed before its first checkpoint has nothing to continue from: it starts over,
    // in its own folder, with its own configuration.
    const std::string ck = (fs::path(cfg.out) / "checkpoint_last.safetensors").string();
    if (fs::exists(ck)) checkpoint = load_model(ck);
  }
  std::vector<StagedUnfreezing::Stage> stages;
  if (!cfg.stages.empty()) stages = parse_stages(cfg.stages);
  else if (cfg.freeze > 0) stages = StagedUnfreezing::every(cfg.freeze, cfg.unfreeze_every);

  // ---- data: everything is read and checked before anything is written ----
  TrainingData data = load_training_data(cfg, regression);
  Dataset& train_set = data.train;
  std::optional<Dataset>& test_set = data.test;
  std::optional<Dataset>& val_set = data.val;
  const std::string& test_name = data.test_name;
  // Reused or resumed layers must see their inputs as they were trained on them. Missing
  // values are filled first (from the training part only), then standardized.
  Imputer impute;
  Standardizer input;
  if (checkpoint) impute = checkpoint->info.impute;
  else if (source && !source->info.impute.empty()) impute = source->info.impute;
  else if (cfg.impute != "none") impute = Imputer::fit(train_set.x, cfg.impute, train_set.feature_names);
  std::size_t filled = 0;
  for (Tensor* x : {&train_set.x, val_set ? &val_set->x : nullptr, test_set ? &test_set->x : nullptr})
    if (x && !impute.empty()) {
      if (impute.fill.size() != x->cols())
        throw std::invalid_argument(fmt::format("the checkpoint's fill values have {} features, the data {}",
                                                impute.fill.size(), x->cols()));
      filled += impute.apply(*x);
    }
  if (checkpoint) input = checkpoint->info.input;
  else if (source && !source->info.input.empty()) input = source->info.input;
  else if (cfg.standardize) input = Standardizer::fit(train_set.x);
  if (!input.empty()) {
    if (input.mean.size() != train_set.features())
      throw std::invalid_argument(fmt::format("the checkpoint's input statistics have {} features, the data {}",
                                              input.mean.size(), train_set.features()));
    input.apply(train_set.x);
    if (val_set) input.apply(val_set->x);
    if (test_set) input.apply(test_set->x);
  }
  train_set.validate(cfg.data);
  if (val_set) {
    val_set->validate(data.val_name);
    check_compatible(train_set, *val_set, data.val_name);
  }
  if (test_set) {
    test_set->validate(test_name);
    check_compatible(train_set, *test_set, test_name);
  }

  // ---- model ----
  std::size_t outputs = train_set.y.cols();
  if (train_set.classification())
    outputs = loss.kind() == LossKind::BinaryCrossEntropy && train_set.num_classes == 2 ? 1 : train_set.num_classes;
  if (loss.kind() == LossKind::CrossEntropy && !train_set.classification())
    throw std::invalid_argument("cross_entropy needs class labels; use --loss mse for a regression target");
  std::vector<LayerSpec> layers = hidden;
  layers.push_back(nn::dense(outputs, init));
  if (out_act) layers.push_back(*out_act);
  check_memory(train_set.features(), layers, cfg.batch_size);
  Sequential model(train_set.features(), layers, cfg.seed);
  std::string reuse_note;
  if (source) {
    if (source->model->in_features() != model.in_features())
      throw std::invalid_argument(fmt::format("--init-from {}: the model takes {} features, the data has {}",
                                              cfg.init_from, source->model->in_features(), model.in_features()));
    const std::size_t copied = copy_matching_layers(model, *source->model);
    if (copied == 0)
      throw std::invalid_argument(fmt::format("--init-from {}: its first layer ({}) does not match this model's ({})",
                                              cfg.init_from, source->model->layer(0).name(), model.layer(0).name()));
    reuse_note = fmt::format("layers 0..{} from {}, the rest initialized fresh", copied - 1, cfg.init_from);
  }
  for (const auto& st : stages)
    if (st.frozen >= count_blocks(model))
      throw std::invalid_argument(fmt::format("cannot freeze {} blocks: the model has {} Dense layers (the output's "
                                              "must stay trainable)",
                                              st.frozen, count_blocks(model)));
  TrainOptions topt;
  topt.epochs = cfg.epochs;
  topt.batch_size = cfg.batch_size;
  topt.drop_last = cfg.drop_last;
  topt.shuffle = cfg.shuffle;
  topt.seed = cfg.seed;
  Trainer trainer(model, loss, *optimizer, topt);
  trainer.check(train_set);
  const bool folds = trainer.folds_last_batch(train_set.size());
  trainer.add_callback(scheduler);
  std::optional<GradientClipping> clipping;
  if (cfg.clip_norm > 0 || cfg.clip_value > 0) {
    clipping.emplace(cfg.clip_norm > 0 ? std::optional<double>(cfg.clip_norm) : std::nullopt,
                     cfg.clip_value > 0 ? std::optional<double>(cfg.clip_value) : std::nullopt);
    trainer.add_callback(*clipping);
  }
  std::optional<EarlyStopping> early;
  if (cfg.early_stop > 0) {
    early.emplace(cfg.early_stop);
    trainer.add_callback(*early);
  }
  std::optional<StagedUnfreezing> unfreezing;
  if (!stages.empty()) {
    unfreezing.emplace(stages, cfg.unfrozen_lr_scale);
    trainer.add_callback(*unfreezing);
  }
  Checkpointer saver(cfg.out, model, *optimizer, trainer, scheduler, early ? &*early : nullptr,
                     unfreezing ? &*unfreezing : nullptr,
                     ModelInfo{.input = input,
                               .impute = impute,
                               .feature_names = train_set.feature_names,
                               .label_name = train_set.label_name,
                               .class_names = train_set.class_names,
                               .loss = std::string(loss.name())},
                     cadence);
  std::size_t epochs_done = 0;
  if (checkpoint) {
    epochs_done = saver.resume(*checkpoint);
    if (epochs_done >= cfg.epochs)
      throw std::invalid_argument(fmt::format("the run in {} has finished its {} epochs; pass --epochs N with N > {} "
                                              "to train it further",
                                              cfg.out, epochs_done, epochs_done));
  }

  // ---- run folder ----
  if (cfg.out.empty()) cfg.out = default_run_folder();
  if (!resuming && fs::exists(cfg.out) && !(fs::is_directory(cfg.out) && fs::is_empty(cfg.out)))
    throw std::runtime_error(fmt::format("run folder '{}' already exists and is not empty (choose another --out{})",
                                         cfg.out, fs::exists(fs::path(cfg.out) / "config.json")
                                                      ? fmt::format(", or continue it with --resume {}", cfg.out)
                                                      : ""));
  saver.set_folder(cfg.out);
  const bool created = !fs::exists(cfg.out);
  fs::create_directories(cfg.out);
  // Outside the clean-up below: a run that finds the folder locked must not touch it.
  const RunLock lock(cfg.out);
  remove_temporaries(cfg.out);
  bool diverged = false;
  try {
    // model, checkpoint_last (weights and up to two optimizer moments), checkpoint_best, each
    // briefly twice while it is replaced; plus the logs.
    check_free_space(cfg.out, 4.0 * 8 * static_cast<double>(model.num_params()) + 1e7);
    // The saved configuration describes the run, not how it was started or where it is:
    // reusing it with --config reproduces the run in a new folder and resumes nothing.
    TrainConfig saved = cfg;
    saved.resume.clear();
    saved.out.clear();
    write_file_atomic((fs::path(cfg.out) / "config.json").string(), to_json(saved).dump(2) + "\n");

    fmt::print("data:   {}: {} training samples{}{}, {} features{}{}{}\n", cfg.data, train_set.size(),
               val_set ? fmt::format(", {} validation samples ({})", val_set->size(), data.val_name) : "",
               test_set ? fmt::format(", {} test samples ({})", test_set->size(), test_name) : ", no test set",
               train_set.features(),
               train_set.classification() ? fmt::format(", {} classes", train_set.num_classes) : ", regression",
               filled ? fmt::format(", {} missing values filled ({})", filled, impute.strategy) : "",
               input.empty() ? "" : ", standardized");
    if (!val_note.empty()) fmt::print("note:   {}\n", val_note);
    fmt::print("model:  {}, {} parameters, init {}\n", describe(model), model.num_params(),
               init == Init::Default ? "default (He/LeCun/Glorot by activation)" : std::string(to_string(init)));
    fmt::print("recipe: {} lr {}{}{}, batch {}, {} epochs, loss {}{}{}, seed {}, {} thread(s), OpenBLAS {} kernels\n",
               optimizer->name(), cfg.lr, cfg.schedule == "none" ? "" : fmt::format(" ({} schedule)", cfg.schedule),
               cfg.warmup ? fmt::format(" after {} warm-up epochs", cfg.warmup) : "", cfg.batch_size, cfg.epochs,
               loss.name(), cfg.clip_norm > 0 || cfg.clip_value > 0 ? ", gradient clipping" : "",
               cfg.early_stop ? fmt::format(", early stopping after {} epochs", cfg.early_stop) : "", cfg.seed,
               num_threads(), blas_kernels());
    if (!reuse_note.empty()) fmt::print("reuse:  {}\n", reuse_note);
    if (folds)
      fmt::print("note:   {} samples at batch {}: the last batch of 1 sample joins the batch before it (BatchNorm "
                 "cannot normalize one sample; --drop-last drops it instead)\n",
                 train_set.size(), cfg.batch_size);
    if (!stages.empty()) {
      std::string plan;
      for (const auto& st : stages) plan += fmt::format("{}from epoch {}: first {} block(s) frozen", plan.empty() ? "" : "; ", st.epoch, st.frozen);
      fmt::print("freeze: {}\n", plan);
    }
    fmt::print("run:    {}{}\n", cfg.out, resuming ? fmt::format(" (resuming after epoch {})", epochs_done) : "");
    const std::string metrics = (fs::path(cfg.out) / "metrics.jsonl").string();
    const std::string diag_path = (fs::path(cfg.out) / "diagnostics.jsonl").string();
    if (resuming) {
      // Records past the checkpoint belong to work that is about to be redone.
      keep_records(metrics, "epoch", epochs_done);
      keep_records(diag_path, "step", checkpoint ? saver.resumed_steps() : 0);
    }

    // Present from the start, so that a run stopped in its first epoch is still a run folder
    // that report and compare can read.
    if (!fs::exists(metrics)) write_file_atomic(metrics, "");
    Progress progress(cfg.epochs, train_set.size(), metrics, val_set.has_value());
    trainer.add_callback(progress);
    std::optional<Diagnostics> diagnostics;
    std::ofstream diag_file;
    if (diagnostics_every > 0) {
      // auto: every 50 steps, but at least ~20 records in a short run (and always the last step).
      const std::size_t steps = cfg.epochs * trainer.steps_per_epoch(train_set.size());
      const std::size_t every =
          diagnostics_every != kAuto ? diagnostics_every : std::clamp<std::size_t>(steps / 20, 1, 50);
      diagnostics.emplace(DiagnosticsOptions{.every = every});
      diag_file.open(diag_path, resuming ? std::ios::app : std::ios::trunc);
      diagnostics->on_record = [&](const DiagnosticsRecord& r) {
        nlohmann::ordered_json layers = nlohmann::ordered_json::array();
        auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
        for (const LayerRecord& l : r.layers) {
          nlohmann::ordered_json j{{"index", l.index}, {"name", l.name}, {"kind", to_string(l.kind)},
                                   {"out_mean", num(l.out_mean)}, {"out_std", num(l.out_std)}};
          if (l.kind == LayerKind::Dense) {
            j["weight_norm"] = num(l.weight_norm);
            j["grad_norm"] = num(l.grad_norm);
            j["update_ratio"] = num(l.update_ratio);
          }
          if (!std::isnan(l.dead)) j["dead"] = l.dead;
          if (!std::isnan(l.saturated)) j["saturated"] = l.saturated;
          if (l.kind == LayerKind::BatchNorm) {
            j["gamma_mean"] = num(l.gamma_mean);
            j["beta_mean"] = num(l.beta_mean);
          }
          layers.push_back(std::move(j));
        }
        // Flushed record by record: a checkpoint must never be ahead of the records before it
        // (a killed run would lose them for good; the ones after it are redone on resume).
        diag_file << nlohmann::ordered_json{{"step", r.step}, {"epoch", r.epoch}, {"layers", layers}}.dump() << '\n'
                  << std::flush;
      };
      diagnostics->on_warning = [&](const DiagnosticWarning& w) { progress.warn(w.message); };
      trainer.add_callback(*diagnostics);
    }
    // After every epoch: model.safetensors, checkpoint_last (with the optimizer and RNG state)
    // and, when the test loss improved, checkpoint_best. A run that diverges or is interrupted
    // keeps its last good model and can be resumed.
    const std::string model_file = (fs::path(cfg.out) / "model.safetensors").string();
    trainer.add_callback(saver);
    InterruptGuard interrupts;
    trainer.add_callback(interrupts);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<EpochMetrics> history;
    try {
      history = trainer.fit(train_set, test_set ? &*test_set : nullptr, val_set ? &*val_set : nullptr);
      if (trainer.interrupted()) {
        saver.save_interrupted();
        diag_file.flush();
        const EpochPosition& p = trainer.position();
        fmt::print("interrupted by {} after step {} of epoch {}: saved {}; continue with: gradflow train --resume {}\n",
                   interrupts.signal() == SIGTERM ? "SIGTERM" : "SIGINT", p.steps_done, p.epoch,
                   (fs::path(cfg.out) / "checkpoint_last.safetensors").string(), cfg.out);
        std::fflush(stdout);
        return 128 + interrupts.signal();
      }
    } catch (const TrainingDiverged& e) {
      diverged = true;
      std::fflush(stdout);
      diag_file.flush();
      const bool kept = saver.save_last_good() || fs::exists(model_file);
      // A diverged run is still a run: its page shows the epochs and records up to the stop
      // (comparing --init normal with --init he_normal is exactly when one diverges).
      if (cfg.report) {
        try {
          write_report({cfg.out}, (fs::path(cfg.out) / "report.html").string());
        } catch (const std::exception&) {
          // the divergence is the error to report
        }
      }
      throw std::runtime_error(fmt::format("{}. {}", e.what(),
                                           kept ? fmt::format("The last good epoch's model is kept in {}", model_file)
                                                : fmt::format("No epoch finished, so no model was saved in {}", cfg.out)));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    saver.save_model_file();  // the final weights (with early stopping: the best epoch's)
    diag_file.close();
    if (test_set && test_set->classification()) {
      const Evaluation ev = evaluate(model, loss, *test_set);
      nlohmann::json c{{"classes", ev.classes}, {"names", train_set.class_names}, {"matrix", nlohmann::json::array()}};
      for (std::size_t t = 0; t < ev.classes; ++t)
        c["matrix"].push_back(std::vector<std::size_t>(ev.confusion.begin() + static_cast<std::ptrdiff_t>(t * ev.classes),
                                                       ev.confusion.begin() + static_cast<std::ptrdiff_t>((t + 1) * ev.classes)));
      write_file_atomic((fs::path(cfg.out) / "confusion.json").string(), c.dump() + "\n");
    }
    if (early && early->stopped_early())
      fmt::print("early stopping: no better validation loss for {} epochs; keeping epoch {} (validation loss {:.4f})\n",
                 cfg.early_stop, early->best_epoch(), early->best_loss());
    if (history.empty()) throw std::runtime_error("no epoch was trained");
    EpochMetrics last = history.back();
    for (const auto& m : history)
      if (early && m.epoch == early->best_epoch()) last = m;
    if (test_set && !std::isnan(last.test_acc))
      fmt::print("test accuracy {:.2f}% (loss {:.4f}) after {} epochs in {:.1f} s; model saved to {}\n",
                 100 * last.test_acc, last.test_loss, last.epoch, secs, model_file);
    else if (test_set)
      fmt::print("test loss {:.6f} after {} epochs in {:.1f} s; model saved to {}\n", last.test_loss, last.epoch, secs,
                 model_file);
    else
      fmt::print("train loss {:.6f} after {} epochs in {:.1f} s; model saved to {}\n", last.train_loss, last.epoch,
                 secs, model_file);
    if (cfg.report) {
      write_report({cfg.out}, (fs::path(cfg.out) / "report.html").string());
      fmt::print("report: {}\n", (fs::path(cfg.out) / "report.html").string());
    }
  } catch (const std::exception& e) {
    // A failure before the first checkpoint leaves nothing behind; after it, what was saved
    // stays (a diverged run's message already says so).
    if (created && !diverged && !saver.saved()) {
      std::error_code ec;
      fs::remove_all(cfg.out, ec);
    }
    if (saver.saved() && !diverged)
      throw std::runtime_error(fmt::format("{}. {} keeps the checkpoint of epoch {}; continue with: gradflow train "
                                           "--resume {}",
                                           e.what(), cfg.out, saver.saved_epoch(), cfg.out));
    throw;
  }
  return 0;
}

namespace {
ModelFile open_model(const std::string& m, int threads) {
  set_num_threads(threads);
  return load_model(model_path(m));
}


// Whether the first line of a CSV file has a field `name` (a header naming that column).
bool header_names(const std::string& path, const std::string& name) {
  std::ifstream in(path);
  std::string line;
  if (name.empty() || !std::getline(in, line)) return false;
  for (std::size_t a = 0;;) {
    const std::size_t b = line.find(',', a);
    std::string f = line.substr(a, b == std::string::npos ? std::string::npos : b - a);
    while (!f.empty() && (f.back() == '\r' || f.back() == ' ')) f.pop_back();
    while (!f.empty() && f.front() == ' ') f.erase(0, 1);
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    if (f == name) return true;
    if (b == std::string::npos) return false;
    a = b + 1;
  }
}

// Missing values filled and inputs standardized as in training.
void prepare_inputs(const ModelInfo& info, Tensor& x) {
  info.impute.apply(x);
  info.input.apply(x);
}
}  // namespace

int eval(const EvalArgs& a) {
  ModelFile mf = open_model(a.model, a.threads);
  const Loss loss(parse_loss(mf.info.loss.empty() ? "cross_entropy" : mf.info.loss));
  std::string label = a.label_column;
  if (label.empty()) label = header_names(a.data, mf.info.label_name) ? mf.info.label_name : "-1";
  DataOptions dopt{.label_column = label,
                   .regression = loss.kind() == LossKind::MeanSquaredError,
                   .class_names = mf.info.class_names,
                   .feature_names = mf.info.feature_names,
                   .allow_missing = !mf.info.impute.empty()};
  Dataset data = load_data(a.data, false, dopt);
  if (data.features() != mf.model->in_features())
    throw std::runtime_error(fmt::format("data '{}' has {} features, the model takes {}", a.data, data.features(),
                                         mf.model->in_features()));
  prepare_inputs(mf.info, data.x);
  data.validate(a.data);
  const std::size_t classes = mf.model->out_features() == 1 && loss.kind() == LossKind::BinaryCrossEntropy
                                  ? 2
                                  : mf.model->out_features();
  if (data.classification()) {
    for (std::size_t i = 0; i < data.size(); ++i)
      if (data.y[i] >= static_cast<float>(classes))
        throw std::runtime_error(fmt::format("data '{}': label {} of sample {} is out of range: the model has {} classes",
                                             a.data, data.y[i], i, classes));
    data.num_classes = classes;
  }
  const Evaluation ev = evaluate(*mf.model, loss, data, a.batch_size);
  fmt::print("model {}: {} samples of {}\n", model_path(a.model), ev.samples, a.data);
  fmt::print("loss {:.6f} ({})\n", ev.loss, loss.name());
  if (!std::isnan(ev.accuracy)) fmt::print("accuracy {:.2f}%\n", 100 * ev.accuracy);
  if (ev.classes) {
    std::vector<std::string> names = mf.info.class_names;
    if (names.size() != ev.classes) {
      names.clear();
      for (std::size_t c = 0; c < ev.classes; ++c) names.push_back(std::to_string(c));
    }
    std::size_t w = 5;
    for (const auto& n : names) w = std::max(w, n.size());
    fmt::print("confusion matrix (rows: true class, columns: predicted)\n{:>{}} ", "", w);
    for (std::size_t c = 0; c < ev.classes; ++c) fmt::print(" {:>6}", c);
    fmt::print("\n");
    for (std::size_t t = 0; t < ev.classes; ++t) {
      fmt::print("{:>{}} ", names[t], w);
      for (std::size_t p = 0; p < ev.classes; ++p) fmt::print(" {:>6}", ev.confusion[t * ev.classes + p]);
      fmt::print("\n");
    }
  }
  return 0;
}

int predict(const PredictArgs& a) {
  ModelFile mf = open_model(a.model, a.threads);
  Tensor x;
  const bool is_csv = a.input.size() > 4 && a.input.substr(a.input.size() - 4) == ".csv";
  if (is_csv) {
    csv::Options co;
    co.has_labels = !a.label_column.empty();
    if (co.has_labels) co.label_column = a.label_column;
    co.regression = true;  // any value is fine in an ignored column
    if (!mf.info.label_name.empty()) co.ignore_columns = {mf.info.label_name};
    co.feature_names = mf.info.feature_names;
    co.allow_missing = !mf.info.impute.empty();
    x = csv::read(a.input, co).x;
  } else {
    x = idx::read_images(a.input);
  }
  if (x.cols() != mf.model->in_features())
    throw std::runtime_error(fmt::format("input '{}' has {} features per sample, the model takes {}", a.input, x.cols(),
                                         mf.model->in_features()));
  prepare_inputs(mf.info, x);
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw std::runtime_error(fmt::format("input '{}': sample {}, feature {} is {} (expected a finite number)", a.input,
                                           i / x.cols(), i % x.cols(), x[i]));
  Tensor out;
  predict(*mf.model, x, out);
  const bool regression = mf.info.loss == "mse" && mf.model->layer(mf.model->size() - 1).kind() != LayerKind::Softmax;
  const std::size_t k = out.cols();
  if (a.format == "csv") {
    if (regression) {
      fmt::print("index");
      for (std::size_t j = 0; j < k; ++j) fmt::print(",y{}", j);
    } else {
      fmt::print("index,class{}", mf.info.class_names.empty() ? "" : ",label");
      for (std::size_t j = 0; j < (k == 1 ? 2 : k); ++j) fmt::print(",p{}", j);
    }
    fmt::print("\n");
  }
  for (std::size_t i = 0; i < out.rows(); ++i) {
    const float* r = out.row(i);
    std::vector<float> p(r, r + k);
    if (k == 1 && !regression) p = {1.0f - r[0], r[0]};
    const std::size_t cls = regression ? 0 : (k == 1 ? (r[0] > 0.5f ? 1 : 0) : predicted_class(r, k));
    if (a.format == "json") {
      nlohmann::ordered_json j{{"index", i}};
      if (regression) j["y"] = p;
      else {
        j["class"] = cls;
        if (cls < mf.info.class_names.size()) j["label"] = mf.info.class_names[cls];
        j["probabilities"] = p;
      }
      fmt::print("{}\n", j.dump());
    } else {
      std::string line = fmt::format("{}", i);
      if (!regression) {
        line += fmt::format(",{}", cls);
        if (!mf.info.class_names.empty()) line += fmt::format(",\"{}\"", cls < mf.info.class_names.size() ? mf.info.class_names[cls] : "");
      }
      for (float v : p) line += fmt::format(",{:.6g}", v);
      fmt::print("{}\n", line);
    }
  }
  return 0;
}

}  // namespace gradflow::app
