// Training from Python: fit (the GIL released while it runs; Ctrl-C raises KeyboardInterrupt
// within a second, the model left at its last completed step) and evaluate.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrays.h"
#include "without_gil.h"
#include "bind_report.h"
#include "runs/recipe.h"
#include "runs/report.h"
#include "bindings.h"
#include "gradflow/gradflow.h"

namespace gradflow::python {

namespace {

py::object or_none(double v) { return std::isnan(v) ? py::none() : py::object(py::float_(v)); }

py::dict epoch_dict(const EpochMetrics& m, double lr) {
  py::dict d;
  d["epoch"] = m.epoch;
  d["train_loss"] = m.train_loss;
  d["train_acc"] = or_none(m.train_acc);
  d["val_loss"] = or_none(m.val_loss);
  d["val_acc"] = or_none(m.val_acc);
  d["val_r2"] = or_none(m.val_r2);
  d["lr"] = lr;
  d["seconds"] = m.seconds;
  return d;
}

py::dict record_dict(const DiagnosticsRecord& r) {
  py::list layers;
  for (const LayerRecord& l : r.layers)
    layers.append(py::dict(py::arg("index") = l.index, py::arg("name") = l.name,
                           py::arg("kind") = std::string(to_string(l.kind)), py::arg("weight_norm") = or_none(l.weight_norm),
                           py::arg("grad_norm") = or_none(l.grad_norm), py::arg("update_ratio") = or_none(l.update_ratio),
                           py::arg("out_mean") = or_none(l.out_mean), py::arg("out_std") = or_none(l.out_std),
                           py::arg("dead") = or_none(l.dead), py::arg("saturated") = or_none(l.saturated)));
  return py::dict(py::arg("step") = r.step, py::arg("epoch") = r.epoch, py::arg("layers") = layers);
}

// Hands each epoch to Python (which may stop training by returning True), polls for signals
// every ~50 ms (Ctrl-C interrupts after the step under way), and keeps each epoch's learning
// rate and warnings for the report.
class PythonHooks final : public Callback {
 public:
  PythonHooks(py::object on_epoch, FitReport& report) : on_epoch_(std::move(on_epoch)), report_(report) {}
  void warn(const std::string& message) { pending_.push_back(message); }
  void on_step_end(Trainer& t, const StepInfo&) override {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll_ < std::chrono::milliseconds(50)) return;
    last_poll_ = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      error_.emplace();  // the KeyboardInterrupt (or whatever a signal handler raised)
      t.interrupt();
    }
  }
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override {
    report_.lrs.push_back(m.lr);  // the rate the epoch trained with
    report_.warnings.push_back(std::move(pending_));
    pending_.clear();
    if (on_epoch_.is_none() || error_) return;
    py::gil_scoped_acquire gil;
    try {
      if (on_epoch_(epoch_dict(m, report_.lrs.back())).cast<bool>()) t.request_stop();
    } catch (py::error_already_set& e) {
      error_.emplace(std::move(e));
      t.request_stop();
    }
  }
  // Raises what a signal or the epoch function raised, if anything did.
  void rethrow() {
    if (error_) throw std::move(*error_);
  }

 private:
  py::object on_epoch_;
  FitReport& report_;
  std::vector<std::string> pending_;
  std::optional<py::error_already_set> error_;
  std::chrono::steady_clock::time_point last_poll_ = std::chrono::steady_clock::now();
};

Dataset dataset_of(FloatArray& X, FloatArray& y, std::size_t num_classes, const char* what) {
  check_finite(X, what);
  check_finite(y, what);
  if (X.shape(0) != y.shape(0))
    throw py::value_error(fmt::format("{}: X has {} samples, y {}", what, X.shape(0), y.shape(0)));
  Dataset d;
  d.name = what;
  d.x = view_of(X);
  d.y = view_of(y);
  d.num_classes = num_classes;
  d.validate(what);
  return d;
}

// What gradflow.fit writes where a run folder's config.json has the data and the network: the
// arrays and the model it was given.
void describe_inputs(runs::Recipe& c, const Sequential& model, const Loss& loss, const Dataset& train,
                     const Dataset* val) {
  c.data = fmt::format("arrays from Python (X [{}, {}])", train.size(), train.features());
  c.val = val ? fmt::format("arrays from Python (X_val [{}, {}])", val->size(), val->features()) : "";
  c.test = "none";
  // The network as --layers, --output and --init say it where they can, else its outline.
  if (const auto text = runs::network_text(model.specs())) {
    c.layers = text->layers;
    c.output = text->output;
    c.init = text->init;
  } else {
    c.layers = model.outline();
  }
  c.loss = std::string(loss.name());
}

py::dict fit(Sequential& model, const Loss& loss, Optimizer& optimizer, const py::handle& X, const py::handle& y,
             const py::handle& X_val, const py::handle& y_val, std::size_t num_classes, runs::Recipe recipe,
             py::object on_epoch, const std::string& continue_from) {
  FloatArray x = as_matrix(X, "X"), t = as_matrix(y, "y", true);
  Dataset train = dataset_of(x, t, num_classes, "training data");
  std::optional<FloatArray> xv, tv;
  std::optional<Dataset> val;
  if (!X_val.is_none()) {
    xv = as_matrix(X_val, "X_val"), tv = as_matrix(y_val, "y_val", true);
    val = dataset_of(*xv, *tv, num_classes, "validation data");
  }
  if (!val && (recipe.early_stop > 0 || runs::recipe_schedule(recipe).kind == ScheduleOptions::Kind::Plateau))
    throw py::value_error(fmt::format("fit: {} selects on the validation loss: pass X_val and y_val",
                                      recipe.early_stop > 0 ? "early_stop" : "the plateau schedule"));
  // The recipe as the CLI resolves it: the optimizer's settings, batch and epochs for the data.
  recipe.optimizer = std::string(optimizer.registered_name());
  recipe.lr = optimizer.initial_learning_rate();
  recipe.optimizer_options = runs::optimizer_options_json(optimizer);
  describe_inputs(recipe, model, loss, train, val ? &*val : nullptr);
  const std::string adapted = runs::adapt_to_data(recipe, train.size());
  check_training_memory(model.in_features(), model.specs(), recipe.batch_size);
  runs::TrainingRun run = runs::build_training(recipe, model, loss, optimizer, train);
  // Where an earlier fit of this model stopped: its epochs, shuffling and dropout draws go on.
  if (!continue_from.empty()) run.trainer->load_state_json(continue_from);
  auto report = std::make_unique<FitReport>();
  report->config = runs::config_json(recipe);
  report->model = runs::model_record(model);
  PythonHooks hooks(std::move(on_epoch), *report);
  if (run.diagnostics) run.diagnostics->on_warning = [&](const DiagnosticWarning& w) { hooks.warn(w.message); };
  run.trainer->add_callback(hooks);
  {
    WithoutGil released;
    const ThreadLimit limit(recipe.threads);  // this thread's, whatever other threads fit at once
    report->history = run.trainer->fit(train, nullptr, val ? &*val : nullptr);
  }
  hooks.rethrow();
  py::list epochs, records, warnings;
  for (std::size_t i = 0; i < report->history.size(); ++i) epochs.append(epoch_dict(report->history[i], report->lrs.at(i)));
  if (run.diagnostics) {
    report->records = run.diagnostics->records();
    for (const DiagnosticsRecord& r : report->records) records.append(record_dict(r));
    for (const DiagnosticWarning& w : run.diagnostics->warnings()) {
      warnings.append(w.message);
      // As Python warnings too: a notebook shows them, and warnings.filterwarnings governs them.
      if (PyErr_WarnEx(PyExc_RuntimeWarning, w.message.c_str(), 1) != 0) throw py::error_already_set();
    }
  }
  const EarlyStopping* early = run.early.get();
  return py::dict(py::arg("history") = epochs, py::arg("diagnostics") = records, py::arg("warnings") = warnings,
                  py::arg("best_epoch") = early ? py::object(py::int_(early->best_epoch())) : py::none(),
                  py::arg("chosen") = adapted, py::arg("state") = run.trainer->state_json(),
                  py::arg("report") = py::cast(std::move(report)));
}

// A Python value as JSON, for the recipe's reader (which checks it against the key's type).
nlohmann::json json_of(const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (PyIndex_Check(v.ptr())) {
    const auto n = py::int_(py::reinterpret_borrow<py::object>(v)).cast<long long>();
    return n >= 0 ? nlohmann::json(static_cast<std::uint64_t>(n)) : nlohmann::json(n);
  }
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::dict>(v)) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, x] : v.cast<py::dict>()) j[py::str(k).cast<std::string>()] = json_of(x);
    return j;
  }
  return py::str(py::repr(v)).cast<std::string>() + " (a " + py::str(v.get_type().attr("__name__")).cast<std::string>() + ")";
}

}  // namespace

// gradflow.fit's keyword arguments: the recipe's keys for the training loop, with the recipe's
// defaults (the CLI's: `gradflow train --help`). The data, the network and the optimizer are
// fit's own arguments; run folders are the CLI's.
const std::vector<std::string>& fit_recipe_keys() {
  static const std::vector<std::string> keys = {
      "epochs", "batch_size", "shuffle", "drop_last", "seed", "schedule", "warmup", "schedule_epochs",
      "clip_norm", "clip_value", "early_stop", "min_delta", "freeze", "unfreeze_every", "stages",
      "unfrozen_lr_scale", "diagnostics_every", "threads"};
  return keys;
}

namespace {
// fit's docstring, its recipe keys and defaults from the recipe's table.
std::string fit_doc() {
  std::string doc =
      "fit(model, loss, optimizer, X, y, *, num_classes=0, X_val=None, y_val=None, on_epoch=None, continue_from='', "
      "**recipe)\n\n"
      "Trains model on X [samples, features] and y (class labels 0..num_classes-1, or targets [samples, outputs]) "
      "with the trainer the recipe describes (the same function builds the CLI's); the GIL is released while it "
      "runs. Returns {history: one dict per epoch, diagnostics: per-layer records, warnings (also issued as "
      "RuntimeWarning), best_epoch, chosen: what batch_size/epochs 0 chose for the data, report: a Report, the page "
      "`gradflow report` draws, shown inline in Jupyter, whose config is the run's config.json, state: where training "
      "stopped}. continue_from=an earlier result's state (of this model, with epochs counting the earlier ones "
      "too): training goes on from there, its shuffling and dropout draws as one longer fit's. on_epoch(dict) is "
      "called after each epoch and stops training by returning True. Ctrl-C raises KeyboardInterrupt within a second "
      "and leaves the model at its last completed step. float32 C-contiguous arrays are read in place; others are "
      "converted once.\n\nThe recipe's keys, with `gradflow train`'s defaults (the flag is the key with dashes); "
      "n_threads is threads' other name:\n";
  const nlohmann::json defaults = runs::to_json(runs::Recipe{});
  for (const std::string& key : fit_recipe_keys())
    for (const runs::RecipeOption& o : runs::recipe_options())
      if (key == o.key) doc += fmt::format("  {}={}: {}\n", key, defaults[key].dump(), o.help);
  return doc;
}
}  // namespace

void bind_training(py::module_& m) {
  m.def(
      "fit",
      [](Sequential& model, const Loss& loss, Optimizer& optimizer, const py::handle& X, const py::handle& y,
         std::size_t num_classes, const py::handle& X_val, const py::handle& y_val, py::object on_epoch,
         const std::string& continue_from, const py::kwargs& options) {
        nlohmann::json given = nlohmann::json::object();
        const auto& keys = fit_recipe_keys();
        for (const auto& [k, v] : options) {
          std::string key = k.cast<std::string>();
          if (key == "n_threads") key = "threads";  // the estimators' name
          if (std::find(keys.begin(), keys.end(), key) == keys.end())
            throw py::type_error(fmt::format("fit() got an unexpected keyword argument '{}' (it takes the recipe's "
                                             "training keys: {})",
                                             key, fmt::join(keys, ", ")));
          given[key] = json_of(v);
        }
        runs::Recipe recipe;
        try {
          recipe = runs::from_json(given, "fit");
        } catch (const std::runtime_error& e) {
          throw py::value_error(e.what());
        }
        if (recipe.threads < 0)
          throw py::value_error(fmt::format("fit: threads must be 0 (the process's count) or more, got {}", recipe.threads));
        return fit(model, loss, optimizer, X, y, X_val, y_val, num_classes, std::move(recipe), std::move(on_epoch),
                   continue_from);
      },
      py::arg("model"), py::arg("loss"), py::arg("optimizer"), py::arg("X"), py::arg("y"), py::kw_only(),
      py::arg("num_classes") = 0, py::arg("X_val") = py::none(), py::arg("y_val") = py::none(),
      py::arg("on_epoch") = py::none(), py::arg("continue_from") = "", fit_doc().c_str());
  m.def(
      "recipe_options",
      [] {
        const nlohmann::json defaults = runs::to_json(runs::Recipe{});
        const auto& keys = fit_recipe_keys();
        py::list out;
        const py::object loads = py::module_::import("json").attr("loads");
        for (const runs::RecipeOption& o : runs::recipe_options())
          out.append(py::dict(py::arg("key") = o.key, py::arg("flags") = o.names,
                              py::arg("default") = loads(defaults[o.key].dump()), py::arg("help") = o.help,
                              py::arg("choices") = o.choices ? py::object(py::str(o.choices)) : py::none(),
                              py::arg("fit") = std::find(keys.begin(), keys.end(), o.key) != keys.end()));
        return out;
      },
      "Every option of `gradflow train` (the recipe's table): {key, flags, default, help, choices, fit: whether "
      "gradflow.fit takes it}. The optimizers' hyper-parameters: optimizer_kinds().");
  m.def(
      "recipe",
      [](const py::kwargs& options) {
        nlohmann::json given = nlohmann::json::object();
        for (const auto& [k, v] : options) given[k.cast<std::string>()] = json_of(v);
        for (const char* key : {"out", "resume"})
          if (given.contains(key))
            throw py::value_error(fmt::format("recipe: '{}' is not part of a recipe (it says what to train, not where)", key));
        try {
          runs::Recipe c = runs::from_json(given, "recipe");
          runs::resolve_optimizer(c);
          return py::module_::import("json").attr("loads")(runs::config_json(c).dump());
        } catch (const std::exception& e) {
          throw py::value_error(e.what());
        }
      },
      "The recipe the options describe, checked and completed with the defaults and the optimizer's own "
      "hyper-parameters: the config.json `gradflow train` with these options writes (keys: recipe_options(); "
      "optimizer_options={...} for the optimizer's). Raises ValueError naming a bad key or value.");
  m.def(
      "evaluate",
      [](Sequential& model, const Loss& loss, const py::handle& X, const py::handle& y, std::size_t num_classes) {
        FloatArray x = as_matrix(X, "X"), t = as_matrix(y, "y", true);
        const Dataset data = dataset_of(x, t, num_classes, "data");
        Evaluation e;
        {
          WithoutGil released;
          e = evaluate(model, loss, data);
        }
        return py::dict(py::arg("loss") = e.loss, py::arg("accuracy") = or_none(e.accuracy),
                        py::arg("samples") = e.samples);
      },
      py::arg("model"), py::arg("loss"), py::arg("X"), py::arg("y"), py::arg("num_classes") = 0);
  m.def(
      "_data_pointer_seen", [](const py::handle& X) {
        FloatArray a = as_matrix(X, "X");
        return reinterpret_cast<std::uintptr_t>(view_of(a).data());
      },
      "For tests: the address of the buffer the library reads for X (X's own when no copy is made).");
}

}  // namespace gradflow::python
