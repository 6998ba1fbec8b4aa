// gradflow: train, evaluate and use feed-forward networks from the command line.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <functional>
#include <map>
#include <type_traits>
#include <variant>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include "gradflow/detail/json_depth.h"
#include "gradflow/detail/quote.h"
#include "gradflow/layer.h"
#include "gradflow/runtime.h"
#include "gradflow/threads.h"

#include "commands.h"
#include "runs/output_file.h"
#include "runs/recipe.h"
#include "runs/data_source.h"
#include "runs/report.h"
#include "mpi.h"
#include "runs/run_folder.h"
#include "studies/study.h"

namespace {

namespace fs = std::filesystem;
using gradflow::runs::Recipe;
using gradflow::runs::from_json;
using gradflow::runs::to_json;

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

// One option per RecipeOption, bound to its member of c.
void add_train_option(CLI::App& cmd, const gradflow::app::RecipeOption& o, Recipe& c) {
  std::visit(
      [&](auto member) {
        auto& value = c.*member;
        using M = std::remove_reference_t<decltype(value)>;
        if constexpr (std::is_same_v<M, bool>) {
          add_switch(cmd, o.names, value, o.help);
        } else {
          CLI::Option* opt = cmd.add_option(o.names, value, o.help);
          if (o.min > 0) {
            const std::size_t min = o.min;
            opt->check(CLI::Validator(
                [min](std::string& v) -> std::string {
                  std::uint64_t n = 0;
                  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                  const bool ok = !v.empty() && ec == std::errc() && p == v.data() + v.size() && n >= min;
                  return ok ? "" : fmt::format("'{}' is not a whole number ≥ {}", gradflow::detail::quote(v), min);
                },
                "", "whole number"));
          }
          if (o.choices) {
            const std::string choices = o.choices;
            opt->check(CLI::Validator(
                [choices](std::string& v) -> std::string {
                  return gradflow::app::is_choice(choices, v) ? "" : fmt::format("'{}' is not one of {}", v, choices);
                },
                choices, "choice"));
          }
        }
      },
      o.member);
}

// The optimizers' hyper-parameters, one option per name (--weight-decay for every optimizer
// that takes a weight_decay), from their registrations; the help lists each optimizer's
// default. What the user gives goes into `given`, by name; the rest stays the optimizer's.
struct OptimizerFlags {
  std::map<std::string, double> reals;
  std::map<std::string, bool> flags;
  std::map<std::string, CLI::Option*> options;
};

void add_optimizer_options(CLI::App& cmd, OptimizerFlags& f) {
  using gradflow::Hyperparameter;
  std::vector<std::string> order;
  std::map<std::string, std::pair<const Hyperparameter*, std::string>> seen;  // name → (first, defaults)
  for (const gradflow::OptimizerKind& k : gradflow::optimizer_kinds())
    for (const Hyperparameter& p : k.params) {
      if (p.name == "lr") continue;  // the job's --lr
      auto [it, fresh] = seen.try_emplace(std::string(p.name), &p, "");
      if (fresh) order.push_back(std::string(p.name));
      const std::string d = p.type == Hyperparameter::Type::Flag ? (p.default_value != 0 ? "on" : "off")
                                                                   : fmt::format("{:g}", p.default_value);
      it->second.second += fmt::format("{}{} {}", it->second.second.empty() ? "" : ", ", k.name, d);
    }
  for (const std::string& name : order) {
    const auto& [p, defaults] = seen[name];
    std::string flag = "--" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const std::string help = fmt::format("{}, {} (default: {})", p->help, gradflow::describe_range(*p), defaults);
    if (p->type == Hyperparameter::Type::Flag)
      f.options[name] = cmd.add_flag(flag, f.flags[name], help);
    else
      f.options[name] = cmd.add_option(flag, f.reals[name], help)->default_str("")->type_name("FLOAT");
  }
}

void add_train_options(CLI::App& cmd, Recipe& c, std::string& config_file, OptimizerFlags& f) {
  cmd.add_option("--config", config_file, "JSON file with any of the options below (flags override it)")
      ->check(CLI::ExistingFile);
  for (const gradflow::app::RecipeOption& o : gradflow::app::recipe_options()) add_train_option(cmd, o, c);
  add_optimizer_options(cmd, f);
  check_numbers(cmd);
}

// The files a configuration names, absolute where they exist under `base`: the saved
// config.json works from any folder (--config, --resume).
void absolute_paths(Recipe& c, const fs::path& base) {
  for (std::string* spec : {&c.data, &c.test, &c.val}) *spec = gradflow::app::absolute_spec(*spec, base);
  std::error_code ec;
  if (!c.init_from.empty() && fs::path(c.init_from).is_relative() && fs::exists(base / c.init_from, ec))
    c.init_from = fs::absolute(base / c.init_from).lexically_normal().string();
}

// A file the config file names that is not there is its error, not the data reader's: say which
// file the path came from.
void check_files_of(const Recipe& c, const Recipe& from_file, const std::string& config_file) {
  const std::pair<const char*, std::string Recipe::*> specs[] = {
      {"data", &Recipe::data}, {"test", &Recipe::test}, {"val", &Recipe::val},
      {"init_from", &Recipe::init_from}};
  for (const auto& [key, member] : specs)
    if (c.*member == from_file.*member && !gradflow::app::spec_exists(c.*member))
      throw std::runtime_error(fmt::format("{}: '{}' names '{}', which is neither beside it ({}) nor in the current "
                                           "folder",
                                           config_file, key, gradflow::detail::quote(c.*member),
                                           fs::absolute(config_file).parent_path().string()));
}

// Defaults, then the config file (or the resumed run's), then the flags given.
// A --config file (or a resumed run's config.json), its files found beside it.
Recipe read_config_file(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json j;
  try {
    j = gradflow::detail::parse_json<nlohmann::json>(text, path);
  } catch (const nlohmann::json::exception& e) {  // (too deep a nesting says so itself)
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  // A recipe says what to train, not where: a run's folder is --out, continuing one is --resume.
  for (const char* key : {"resume", "out"})
    if (j.is_object() && j.contains(key) && !(j[key].is_string() && j[key].get<std::string>().empty()))
      throw std::runtime_error(fmt::format("{}: '{}' is not part of a recipe (a config file says what to train, not "
                                           "where): {}",
                                           path, key,
                                           std::string_view(key) == "out" ? "give --out FOLDER"
                                                                          : "continue a run with --resume RUN"));
  Recipe file = from_json(j, path);
  absolute_paths(file, fs::absolute(path).parent_path());
  return file;
}

Recipe resolve(CLI::App& cmd, const Recipe& flags, const OptimizerFlags& f, std::string config_file) {
  // Resuming reads the run's own resolved configuration; flags given now override it.
  if (!flags.resume.empty()) {
    if (!config_file.empty()) throw std::runtime_error("--resume takes the run's config.json; do not pass --config too");
    config_file = gradflow::app::RunFolder(flags.resume).config();
    if (!std::ifstream(config_file)) throw std::runtime_error(fmt::format("cannot resume: no {}", config_file));
  }
  nlohmann::json merged = to_json(flags);
  std::optional<Recipe> file;
  if (!config_file.empty()) {
    file = read_config_file(config_file);
    const nlohmann::json given = merged;
    merged = to_json(*file);
    for (const CLI::Option* opt : cmd.get_options())
      if (opt->count() > 0 && merged.contains(key_of(opt))) merged[key_of(opt)] = given[key_of(opt)];
    // A resumed run keeps the plan its schedule was made with, whatever --epochs it runs to now.
    if (!flags.resume.empty() && cmd.get_option("--schedule-epochs")->count() == 0 && file->schedule_epochs == 0)
      merged["schedule_epochs"] = file->epochs;
    // The file's optimizer settings are that optimizer's: another one starts from its own.
    if (cmd.get_option("--optimizer")->count() > 0 && flags.optimizer != file->optimizer)
      merged["optimizer_options"] = nlohmann::json::object();
  }
  for (const auto& [name, opt] : f.options)
    if (opt->count() > 0)
      merged["optimizer_options"][name] =
          f.flags.count(name) ? nlohmann::json(f.flags.at(name)) : nlohmann::json(f.reals.at(name));
  Recipe c = from_json(merged, config_file.empty() ? "the command line" : config_file);
  absolute_paths(c, fs::current_path());
  if (file) check_files_of(c, *file, config_file);
  return c;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean --epochs?)" for an option the command does not have but one it has is near.
std::string suggestion(const CLI::App& app, int argc, char** argv) {
  const CLI::App* cmd = &app;
  for (const CLI::App* sub : app.get_subcommands()) cmd = sub;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = std::string(argv[i]).substr(0, std::string(argv[i]).find('='));
    if (!arg.starts_with("--") || cmd->get_option_no_throw(arg) || app.get_option_no_throw(arg)) continue;
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, arg.size() / 3) + 1;
    for (const CLI::Option* opt : cmd->get_options())
      for (const std::string& name : opt->get_lnames())
        if (const std::size_t d = edit_distance(arg.substr(2), name); d < best_d) best_d = d, best = "--" + name;
    if (!best.empty()) return fmt::format(" (did you mean {} instead of {}?)", best, arg);
  }
  return "";
}

// Every command's arguments, bound to its options.
struct Commands {
  CLI::App *train, *eval, *predict, *exporting, *importing, *report, *compare, *study, *board;
  Recipe train_flags;
  std::string config_file;
  OptimizerFlags optimizer_flags;
  gradflow::app::EvalArgs eval_args;
  gradflow::app::PredictArgs predict_args;
  gradflow::app::ExportArgs export_args;
  gradflow::app::ImportArgs import_args;
  std::string report_run, report_out;
  std::vector<std::string> compare_runs;
  std::string compare_out = "compare.html";
  bool page_force = false;  // report/compare --force
  gradflow::app::StudyOptions study_opts;
  gradflow::runs::BoardOptions board_opts;
  std::string study_name;
  bool study_list = false;
};

void add_eval_and_predict(CLI::App& app, Commands& c) {
  c.eval = app.add_subcommand("eval", "loss, accuracy and confusion matrix of a trained model on data");
  c.eval->add_option("--model", c.eval_args.model, "model file (.safetensors or .onnx) or run folder")->required();
  c.eval->add_option("--data", c.eval_args.data, "data, as for train --data (fashion-mnist: its test split)");
  c.eval->add_option("--label-column", c.eval_args.label_column,
                     "CSV label column: header name or index (default: the training data's label column by name, "
                     "else the last)");
  c.eval->add_option("--batch-size", c.eval_args.batch_size, "evaluation batch size");
  c.eval->add_option("--threads", c.eval_args.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");

  gradflow::app::PredictArgs& p = c.predict_args;
  c.predict = app.add_subcommand("predict", "predicted class and class probabilities, one line per sample");
  c.predict->add_option("--model", p.model, "model file (.safetensors or .onnx) or run folder")->required();
  c.predict
      ->add_option("--input", p.input,
                   "samples: a CSV file of features (with a header: columns matched to the training features by "
                   "name), or an IDX image file")
      ->required();
  c.predict->add_option("--label-column", p.label_column,
                        "CSV column to ignore (a label), by name or index (the training data's label column is "
                        "ignored by name)");
  c.predict->add_option("--format", p.format, "output format")->check(CLI::IsMember({"csv", "json"}));
  c.predict->add_option("--threads", p.threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");
}

void add_export_and_import(CLI::App& app, Commands& c) {
  gradflow::app::ExportArgs& e = c.export_args;
  c.exporting = app.add_subcommand("export", "a model for other runtimes: ONNX (TorchScript: tools/torch_bridge.py)");
  c.exporting->add_option("model", e.model, "model file (.safetensors or .onnx) or run folder")->required();
  c.exporting->add_option("--format", e.format, "output format")->check(CLI::IsMember({"onnx"}));
  c.exporting->add_option("--opset", e.opset, "ONNX opset version")
      ->check(CLI::Range(gradflow::kOnnxMinOpset, gradflow::kOnnxMaxOpset));
  c.exporting->add_option("--out", e.out, "output file (default: the model's path with the extension .onnx)");
  c.exporting->add_flag("--force", e.force, "replace the output file if it exists");
  c.importing = app.add_subcommand("import", "an MLP from ONNX (e.g. torch.onnx.export) as a gradflow model file");
  c.importing->add_option("file", c.import_args.file, "the .onnx file")->required();
  c.importing->add_option("--out", c.import_args.out,
                          "model file to write (default: the file's path with the extension .safetensors)");
  c.importing
      ->add_option("--task", c.import_args.task,
                   "what the outputs are when the file does not say: classification (outputs without a softmax are "
                   "the logits; a Softmax, or a Sigmoid for one output, is appended) or regression")
      ->check(CLI::IsMember({"classification", "regression"}));
  c.importing->add_option("--classes", c.import_args.classes, "class names, comma-separated, one per output")
      ->delimiter(',');
  c.importing->add_flag("--force", c.import_args.force, "replace the output file if it exists");
}

void add_report_and_study(CLI::App& app, Commands& c) {
  c.report = app.add_subcommand("report", "write a run's report.html: curves, per-layer diagnostics, warnings");
  c.report->add_option("run", c.report_run, "run folder")->required();
  c.report->add_option("--out", c.report_out, "output file (default: RUN/report.html)");
  c.report->add_flag("--force", c.page_force, "replace the output file even if it is not a page gradflow drew");
  c.compare = app.add_subcommand("compare", "several runs on the same plots, as one HTML page");
  c.compare->add_option("runs", c.compare_runs, "run folders")->required()->expected(2, -1);
  c.compare->add_option("--out", c.compare_out, "output file");
  c.compare->add_flag("--force", c.page_force, "replace the output file even if it is not a page gradflow drew");

  c.study = app.add_subcommand("study", "run the experiment behind one of the lecture's claims (--list: which)");
  c.study->add_option("name", c.study_name, "the study (see --list)");
  add_switch(*c.study, "--list", c.study_list, "list the studies and the claim each one tests");
  add_switch(*c.study, "--quick", c.study_opts.quick,
             "the seconds-long form (smaller data and budgets; what the tests run)");
  c.study->add_option("--out", c.study_opts.out, "folder for results.json and report.html (default: studies/NAME)");
  c.study->add_option("--threads", c.study_opts.threads,
                      "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)");
  check_numbers(*c.study);

  gradflow::runs::BoardOptions& b = c.board_opts;
  c.board = app.add_subcommand("board", "a local web page that follows runs as they train: their list, state and "
                                        "charts, updating live");
  c.board->add_option("folders", b.folders, "folders of run folders (default: runs)");
  c.board->add_option("--host", b.host, "address to listen on (127.0.0.1: this machine only)");
  c.board->add_option("--port", b.port, "port (0: a free one, printed)")->check(CLI::Range(0, 65535));
}

// The command that was parsed, run; its exit code.
int dispatch(Commands& c) {
  namespace app = gradflow::app;
  if (*c.train) return app::train(resolve(*c.train, c.train_flags, c.optimizer_flags, c.config_file));
  if (*c.eval) return app::eval(c.eval_args);
  if (*c.study) {
    if (c.study_list || c.study_name.empty()) {
      app::list_studies();
      return c.study_list ? 0 : 2;
    }
    return app::run_study(c.study_name, c.study_opts);
  }
  if (*c.predict) return app::predict(c.predict_args);
  if (*c.exporting) return app::export_model(c.export_args);
  if (*c.importing) return app::import_model(c.import_args);
  if (*c.board) return app::board(c.board_opts);
  if (*c.report) {
    const std::string out = c.report_out.empty() ? app::RunFolder(c.report_run).report() : c.report_out;
    app::check_output(out, app::OutputKind::Page, c.page_force);
    app::write_report({c.report_run}, out);
    std::printf("report written to %s\n", out.c_str());
  }
  if (*c.compare) {
    app::check_output(c.compare_out, app::OutputKind::Page, c.page_force);
    app::write_report(c.compare_runs, c.compare_out);
    std::printf("comparison of %zu runs written to %s\n", c.compare_runs.size(), c.compare_out.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    gradflow::runtime();  // an invalid environment variable stops every command, here
    gradflow::select_openblas_kernels();
    gradflow::blas_kernels();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "gradflow: error: %s\n", gradflow::detail::printable(e.what()).c_str());
    return 2;
  }
  // Under mpirun: MPI for the whole process (a plain start runs without it).
  const gradflow::app::mpi::Session mpi_session(argc, argv);
  CLI::App app{"gradflow: train deep feed-forward networks on the CPU, and see into them"};
  app.option_defaults()->always_capture_default();
  app.formatter(std::make_shared<HelpFormatter>());
  app.require_subcommand(1);
  // Where a run's numbers come from: the sgemm library, its code path and the thread count.
  app.set_version_flag("--version", std::function<std::string()>([] {
    return fmt::format("gradflow 0.1.0 (sgemm: {}, {} compute thread(s){})", gradflow::blas_kernels(),
                       gradflow::num_threads(), gradflow::runtime().threads > 0 ? " from GRADFLOW_NUM_THREADS" : "");
  }));
  Commands c;
  c.train = app.add_subcommand("train", "train a model (no arguments: the default MLP on Fashion-MNIST)");
  add_train_options(*c.train, c.train_flags, c.config_file, c.optimizer_flags);
  add_eval_and_predict(app, c);
  add_export_and_import(app, c);
  add_report_and_study(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and exit 0; a bad option is one error line like any other.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "gradflow: error: %s%s (see --help)\n", gradflow::detail::printable(e.what()).c_str(),
                 suggestion(app, argc, argv).c_str());
    return e.get_exit_code();
  }
  try {
    return dispatch(c);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    // Errors quote names from files (ONNX op types, tensor names, labels): never raw to the terminal.
    std::fprintf(stderr, "gradflow: error: %s\n", gradflow::detail::printable(e.what()).c_str());
    return 1;
  }
}
