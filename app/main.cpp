// gradflow: train, evaluate and use feed-forward networks from the command line.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include "gradflow/detail/json_depth.h"
#include "gradflow/layer.h"
#include "gradflow/threads.h"

#include "commands.h"
#include "config.h"
#include "report.h"
#include "mpi.h"
#include "run_folder.h"
#include "studies/study.h"

namespace {

using gradflow::app::TrainConfig;
using gradflow::app::from_json;
using gradflow::app::to_json;

// Help that shows every option's true default: CLI11 prints an on/off flag as
// "--shuffle,--no-shuffle{false}" (the value the negation sets, easily read as the default) and
// no default at all; here it is "--shuffle,--no-shuffle =true".
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, positional);
    for (const char* v : {"{false}", "{true}"})
      for (std::size_t p; (p = name.find(v)) != std::string::npos;) name.erase(p, std::string(v).size());
    return name;
  }
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_name().empty() && !opt->get_default_str().empty()) return " =" + opt->get_default_str();
    return CLI::Formatter::make_option_opts(opt);
  }
};

// --some-flag → some_flag: the config-file key of an option.
std::string key_of(const CLI::Option* opt) {
  std::string k = opt->get_lnames().empty() ? "" : opt->get_lnames()[0];
  for (char& c : k)
    if (c == '-') c = '_';
  return k;
}

// Numbers as written: CLI11 would wrap "-1" into 2⁶⁴−1 for an unsigned option and take "nan"
// for a rate. Every unsigned option takes a whole number ≥ 0, every real one a finite number.
void check_numbers(CLI::App& cmd) {
  const CLI::Validator whole(
      [](std::string& s) -> std::string {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size())
          return fmt::format("'{}' is not a whole number ≥ 0{}", s,
                             ec == std::errc::result_out_of_range ? " (too large)" : "");
        return {};
      },
      "", "whole number ≥ 0");
  const CLI::Validator finite(
      [](std::string& s) -> std::string {
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
          return fmt::format("'{}' is not a finite number", s);
        return {};
      },
      "", "finite number");
  for (CLI::Option* opt : cmd.get_options()) {
    // The type name grows with validators ("FLOAT:FLOAT in [0 - 0.99]").
    const std::string type = opt->get_type_name();
    if (type.starts_with("UINT")) opt->check(whole);
    if (type.starts_with("FLOAT")) opt->check(finite);
  }
}

// An on/off flag whose help shows its default.
void add_switch(CLI::App& cmd, const std::string& names, bool& value, const std::string& help) {
  cmd.add_flag(names, value, help)->default_str(value ? "true" : "false");
}

void add_train_options(CLI::App& cmd, TrainConfig& c, std::string& config_file) {
  cmd.add_option("--config", config_file, "JSON file with any of the options below (flags override it)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--data", c.data,
                 "training data: fashion-mnist | DIR of MNIST files | IMAGES,LABELS (IDX, .gz or not) | "
                 "FILE.csv | xor | spirals | moons | sine");
  cmd.add_option("--test", c.test, "test data, same forms as --data (default: the data set's test split), or none (while choosing a recipe on a validation split, the test set stays unseen)");
  cmd.add_option("--test-split", c.test_split,
                 "hold out this fraction of the data (stratified) as the test set, for data without a test split");
  cmd.add_option("--val", c.val, "validation data, same forms as --data: early stopping, the plateau schedule and "
                                 "checkpoint_best select on it (never on the test set)");
  cmd.add_option("--val-split", c.val_split,
                 "hold out this fraction of the training data (stratified) as the validation set (0: none, but 0.1 "
                 "when --early-stop or a plateau schedule needs one)");
  cmd.add_option("--label-column", c.label_column, "CSV label column: header name or index (negative counts from the end)");
  cmd.add_option("--task", c.task,
                 "auto (regression for sine or --loss mse, else classification) | classification | regression")
      ->check(CLI::IsMember({"auto", "classification", "regression"}));
  cmd.add_option("--max-classes", c.max_classes,
                 "at most this many classes: a CSV label that is a number is a class index below it (more distinct "
                 "numbers than this are taken for a numeric target: an error that suggests --task regression)");
  cmd.add_option("--impute", c.impute,
                 "CSV missing values (empty, NA, nan, ?, …): none (an error naming row and column) | mean | median "
                 "(of the training set, kept with the model)")
      ->check(CLI::IsMember({"none", "mean", "median"}));
  add_switch(cmd, "--standardize,!--no-standardize", c.standardize,
               "standardize features with the training set's mean/std (kept with the model)");
  cmd.add_option("--limit", c.limit, "use only the first N training samples (0: all)");
  cmd.add_option("--test-limit", c.test_limit, "use only the first N test samples (0: all)");
  cmd.add_option("--layers", c.layers,
                 "hidden layers, exactly as written: comma-separated UNITS[:ACTIVATION][:bn][:dropout=P], or bn "
                 "(BatchNorm, first: on the input) or dropout=P; activations: " +
                     gradflow::activation_names(" "));
  add_switch(cmd, "--batchnorm,!--no-batchnorm", c.batchnorm,
               "batch normalization after every hidden Dense, before its activation (per layer: 256:relu:bn)");
  cmd.add_option("--dropout", c.dropout, "dropout rate after every hidden activation (per layer: 256:relu:dropout=0.2)");
  cmd.add_option("--output", c.output,
                 "output activation: auto (softmax for cross_entropy, sigmoid for bce, else identity) | " +
                     gradflow::activation_names(" | "));
  cmd.add_option("--loss", c.loss, "auto (mse for regression data, else cross_entropy) | cross_entropy | bce | mse");
  cmd.add_option("--init", c.init,
                 "weight initializer: default (He for ReLU family, LeCun for SELU, else Glorot) | normal | "
                 "glorot_normal | glorot_uniform | lecun_normal | lecun_uniform | he_normal | he_uniform");
  cmd.add_option("--optimizer", c.optimizer, "update rule: sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw");
  cmd.add_option("--lr,--learning-rate", c.lr, "learning rate (the schedule's starting rate)");
  cmd.add_option("--momentum", c.momentum, "momentum (momentum/nesterov: 0 means 0.9; rmsprop: 0 is off)");
  cmd.add_option("--weight-decay", c.weight_decay, "L2 weight decay added to the gradient (adamw: decoupled)");
  cmd.add_option("--beta1", c.beta1, "adam/adamw: decay of the gradient's moving average");
  cmd.add_option("--beta2", c.beta2, "adam/adamw: decay of the squared gradient's moving average");
  cmd.add_option("--eps", c.eps, "adam/adamw/rmsprop: term added to the denominator");
  add_switch(cmd, "--amsgrad", c.amsgrad, "adam/adamw: the AMSGrad variant");
  add_switch(cmd, "--centered", c.centered, "rmsprop: normalize by the gradient's estimated variance");
  cmd.add_option("--schedule", c.schedule,
                 "learning-rate schedule per epoch: none | step:STEP[:GAMMA] | exponential:GAMMA | "
                 "cosine[:T_MAX[:ETA_MIN]] (T_MAX defaults to the epochs) | plateau[:PATIENCE[:FACTOR]] (on the "
                 "validation loss)");
  cmd.add_option("--warmup", c.warmup, "linear learning-rate warm-up over this many epochs, from lr/3");
  cmd.add_option("--clip-norm", c.clip_norm, "clip the gradients' global L2 norm to this (0: off)");
  cmd.add_option("--clip-value", c.clip_value, "clip every gradient element to [-v, v] (0: off)");
  cmd.add_option("--early-stop", c.early_stop,
                 "stop after this many epochs without a better validation loss, keeping the best epoch's model (0: "
                 "off)");
  cmd.add_option("--batch-size", c.batch_size, "minibatch size");
  add_switch(cmd, "--drop-last,!--no-drop-last", c.drop_last,
               "skip each epoch's last partial batch (without it, a last batch of 1 sample joins the one before "
               "when the model has BatchNorm)");
  cmd.add_option("--epochs", c.epochs, "passes over the training data");
  cmd.add_option("--seed", c.seed, "seed for initialization, shuffling and noise");
  cmd.add_option("--threads", c.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");
  add_switch(cmd, "--shuffle,!--no-shuffle", c.shuffle, "reshuffle the training data every epoch (--no-shuffle: in order)");
  add_switch(cmd, "--sync-batchnorm", c.sync_batchnorm,
             "under mpirun: BatchNorm statistics over the whole batch (every rank's slice; SyncBatchNorm) instead of "
             "each rank's own slice");
  cmd.add_option("--classes", c.classes, "keep only these classes, e.g. 5,7,8,9 (relabelled 0.. in this order)");
  cmd.add_option("--per-class", c.per_class, "use only the first N training samples of each class (0: all)");
  cmd.add_option("--init-from", c.init_from,
                 "start from a checkpoint (.safetensors or run folder): its lower layers that match by shape");
  cmd.add_option("--freeze", c.freeze, "keep the first N blocks (a Dense with its BN/activation/dropout) frozen");
  cmd.add_option("--unfreeze-every", c.unfreeze_every, "unfreeze one more frozen block, top down, every E epochs (0: never)");
  cmd.add_option("--stages", c.stages, "explicit unfreezing stages EPOCH:FROZEN_BLOCKS,… e.g. 1:3,5:2,9:0");
  cmd.add_option("--unfrozen-lr-scale", c.unfrozen_lr_scale, "learning-rate factor for blocks once unfrozen");
  cmd.add_option("--diagnostics-every", c.diagnostics_every,
                 "record per-layer diagnostics every N steps into diagnostics.jsonl, with warnings (0: off; auto: "
                 "every 50 steps, more often in short runs to get 20 records or more; always the last step)");
  add_switch(cmd, "--report,!--no-report", c.report, "write report.html into the run folder at the end");
  cmd.add_option("--save-every", c.save_every,
                 "checkpoint cadence: Ns (at most every N seconds) or N (every N epochs); always at the end, on early "
                 "stopping, divergence and interruption");
  cmd.add_option("--out", c.out, "run folder (default: runs/<date>-<time>)");
  cmd.add_option("--resume", c.resume,
                 "continue the run in this folder from its last checkpoint (its config.json; flags such as --epochs override)");
  check_numbers(cmd);
}

TrainConfig resolve(CLI::App& cmd, const TrainConfig& flags, std::string config_file) {
  // Resuming reads the run's own resolved configuration; flags given now override it.
  if (!flags.resume.empty()) {
    if (!config_file.empty()) throw std::runtime_error("--resume takes the run's config.json; do not pass --config too");
    config_file = gradflow::app::RunFolder(flags.resume).config();
    if (!std::ifstream(config_file)) throw std::runtime_error(fmt::format("cannot resume: no {}", config_file));
  }
  if (config_file.empty()) return flags;
  std::ifstream in(config_file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json j;
  try {
    j = gradflow::detail::parse_json<nlohmann::json>(text, config_file);
  } catch (const nlohmann::json::exception& e) {  // (too deep a nesting says so itself)
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", config_file, e.what()));
  }
  nlohmann::json merged = to_json(from_json(j, config_file));
  const nlohmann::json given = to_json(flags);
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && merged.contains(key_of(opt))) merged[key_of(opt)] = given[key_of(opt)];
  return from_json(merged, config_file);
}

}  // namespace

int main(int argc, char** argv) {
  // Under mpirun: MPI for the whole process (a plain start runs without it).
  const gradflow::app::mpi::Session mpi_session(argc, argv);
  try {
    gradflow::blas_kernels();  // an unusable GRADFLOW_SGEMM stops every command
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "gradflow: error: %s\n", e.what());
    return 2;
  }
  CLI::App app{"gradflow: train deep feed-forward networks on the CPU, and see into them"};
  app.option_defaults()->always_capture_default();
  app.formatter(std::make_shared<HelpFormatter>());
  app.require_subcommand(1);
  // Where a run's numbers come from: the sgemm library, its code path and the thread count.
  app.set_version_flag("--version", std::function<std::string()>([] {
    return fmt::format("gradflow 0.1.0 (sgemm: {}, {} compute thread(s))", gradflow::blas_kernels(),
                       gradflow::num_threads());
  }));

  TrainConfig flags;
  std::string config_file;
  CLI::App* train = app.add_subcommand("train", "train a model (no arguments: the default MLP on Fashion-MNIST)");
  add_train_options(*train, flags, config_file);

  gradflow::app::EvalArgs eval_args;
  CLI::App* eval = app.add_subcommand("eval", "loss, accuracy and confusion matrix of a trained model on data");
  eval->add_option("--model", eval_args.model, "model file (.safetensors) or run folder")->required();
  eval->add_option("--data", eval_args.data, "data, as for train --data (fashion-mnist: its test split)");
  eval->add_option("--label-column", eval_args.label_column,
                   "CSV label column: header name or index (default: the training data's label column by name, else "
                   "the last)");
  eval->add_option("--batch-size", eval_args.batch_size, "evaluation batch size");
  eval->add_option("--threads", eval_args.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");

  gradflow::app::PredictArgs pred_args;
  CLI::App* pred = app.add_subcommand("predict", "predicted class and class probabilities, one line per sample");
  pred->add_option("--model", pred_args.model, "model file (.safetensors) or run folder")->required();
  pred->add_option("--input", pred_args.input,
                   "samples: a CSV file of features (with a header: columns matched to the training features by "
                   "name), or an IDX image file")
      ->required();
  pred->add_option("--label-column", pred_args.label_column,
                   "CSV column to ignore (a label), by name or index (the training data's label column is ignored by "
                   "name)");
  pred->add_option("--format", pred_args.format, "output format")->check(CLI::IsMember({"csv", "json"}));
  pred->add_option("--threads", pred_args.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");

  std::string report_run, report_out;
  CLI::App* report = app.add_subcommand("report", "write a run's report.html: curves, per-layer diagnostics, warnings");
  report->add_option("run", report_run, "run folder")->required();
  report->add_option("--out", report_out, "output file (default: RUN/report.html)");
  std::vector<std::string> compare_runs;
  std::string compare_out = "compare.html";
  CLI::App* compare = app.add_subcommand("compare", "several runs on the same plots, as one HTML page");
  compare->add_option("runs", compare_runs, "run folders")->required()->expected(2, -1);
  compare->add_option("--out", compare_out, "output file");

  gradflow::app::StudyOptions study_opts;
  std::string study_name;
  bool study_list = false;
  CLI::App* study = app.add_subcommand("study", "run the experiment behind one of the lecture's claims (--list: which)");
  study->add_option("name", study_name, "the study (see --list)");
  add_switch(*study, "--list", study_list, "list the studies and the claim each one tests");
  add_switch(*study, "--quick", study_opts.quick, "the seconds-long form (smaller data and budgets; what the tests run)");
  study->add_option("--out", study_opts.out, "folder for results.json and report.html (default: studies/NAME)");
  study->add_option("--threads", study_opts.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");
  check_numbers(*study);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and exit 0; a bad option is one error line like any other.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "gradflow: error: %s (see --help)\n", e.what());
    return e.get_exit_code();
  }
  try {
    if (*train) return gradflow::app::train(resolve(*train, flags, config_file));
    if (*eval) return gradflow::app::eval(eval_args);
    if (*study) {
      if (study_list || study_name.empty()) {
        gradflow::app::list_studies();
        return study_list ? 0 : 2;
      }
      return gradflow::app::run_study(study_name, study_opts);
    }
    if (*pred) return gradflow::app::predict(pred_args);
    if (*report) {
      const std::string out = report_out.empty() ? gradflow::app::RunFolder(report_run).report() : report_out;
      gradflow::app::write_report({report_run}, out);
      std::printf("report written to %s\n", out.c_str());
      return 0;
    }
    if (*compare) {
      gradflow::app::write_report(compare_runs, compare_out);
      std::printf("comparison of %zu runs written to %s\n", compare_runs.size(), compare_out.c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "gradflow: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
