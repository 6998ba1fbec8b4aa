// Training from Python: fit (the GIL released while it runs; Ctrl-C raises KeyboardInterrupt
// within a second, the model left at its last completed step) and evaluate.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "arrays.h"
#include "without_gil.h"
#include "bind_report.h"
#include "report.h"
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

struct FitOptions {
  std::size_t epochs, batch_size, num_classes, diagnostics_every, early_stop;
  double min_delta;
  bool shuffle;
  std::uint64_t seed;
  std::string schedule;
  double clip_norm;
  int n_threads;  // at most this many threads for this fit (0: the process's count)
};

// The report's settings table: what this fit ran with.
nlohmann::json settings(const Sequential& model, const Loss& loss, const Optimizer& optimizer, const FitOptions& o) {
  return {{"source", "gradflow.fit (Python)"},
          {"layers", nlohmann::json::parse(architecture_json(model))},
          {"loss", std::string(loss_kind(loss.kind()).name)},
          {"optimizer", std::string(optimizer.name())},
          {"lr", optimizer.learning_rate()},
          {"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"shuffle", o.shuffle},
          {"seed", o.seed},
          {"schedule", o.schedule},
          {"clip_norm", o.clip_norm},
          {"early_stop", o.early_stop},
          {"diagnostics_every", o.diagnostics_every}};
}

py::dict fit(Sequential& model, const Loss& loss, Optimizer& optimizer, const py::handle& X, const py::handle& y,
             const py::handle& X_val, const py::handle& y_val, const FitOptions& o, py::object on_epoch) {
  FloatArray x = as_matrix(X, "X"), t = as_matrix(y, "y", true);
  Dataset train = dataset_of(x, t, o.num_classes, "training data");
  std::optional<FloatArray> xv, tv;
  std::optional<Dataset> val;
  if (!X_val.is_none()) {
    xv = as_matrix(X_val, "X_val"), tv = as_matrix(y_val, "y_val", true);
    val = dataset_of(*xv, *tv, o.num_classes, "validation data");
  }
  check_training_memory(model.in_features(), model.specs(), o.batch_size);
  TrainOptions topt{.epochs = o.epochs, .batch_size = o.batch_size, .shuffle = o.shuffle, .seed = o.seed};
  Trainer trainer(model, loss, optimizer, topt);
  LrScheduler schedule(parse_schedule(o.schedule, o.epochs, 0));
  trainer.add_callback(schedule);
  std::optional<GradientClipping> clip;
  if (o.clip_norm > 0) trainer.add_callback(clip.emplace(o.clip_norm, std::nullopt));
  std::optional<EarlyStopping> early;
  if (o.early_stop > 0) trainer.add_callback(early.emplace(o.early_stop, o.min_delta));
  auto report = std::make_unique<FitReport>();
  report->config = settings(model, loss, optimizer, o);
  report->model = app::model_record(model);
  PythonHooks hooks(std::move(on_epoch), *report);
  std::optional<Diagnostics> diagnostics;
  if (o.diagnostics_every > 0) {
    trainer.add_callback(
        diagnostics.emplace(DiagnosticsOptions{.every = o.diagnostics_every, .input_scale = input_scale(train.x)}));
    diagnostics->on_warning = [&](const DiagnosticWarning& w) { hooks.warn(w.message); };
  }
  trainer.add_callback(hooks);
  {
    WithoutGil released;
    const ThreadLimit limit(o.n_threads);  // this thread's, whatever other threads fit at once
    report->history = trainer.fit(train, nullptr, val ? &*val : nullptr);
  }
  hooks.rethrow();
  py::list epochs, records, warnings;
  for (std::size_t i = 0; i < report->history.size(); ++i) epochs.append(epoch_dict(report->history[i], report->lrs.at(i)));
  if (diagnostics) {
    report->records = diagnostics->records();
    for (const DiagnosticsRecord& r : report->records) records.append(record_dict(r));
    for (const DiagnosticWarning& w : diagnostics->warnings()) {
      warnings.append(w.message);
      // As Python warnings too: a notebook shows them, and warnings.filterwarnings governs them.
      if (PyErr_WarnEx(PyExc_RuntimeWarning, w.message.c_str(), 1) != 0) throw py::error_already_set();
    }
  }
  return py::dict(py::arg("history") = epochs, py::arg("diagnostics") = records, py::arg("warnings") = warnings,
                  py::arg("best_epoch") = early ? py::object(py::int_(early->best_epoch())) : py::none(),
                  py::arg("report") = py::cast(std::move(report)));
}

}  // namespace

void bind_training(py::module_& m) {
  const TrainOptions d{};
  m.def(
      "fit",
      [](Sequential& model, const Loss& loss, Optimizer& optimizer, const py::handle& X, const py::handle& y,
         std::size_t epochs, std::size_t batch_size, bool shuffle, std::uint64_t seed, std::size_t num_classes,
         const py::handle& X_val, const py::handle& y_val, const std::string& schedule, double clip_norm,
         std::size_t early_stop, double min_delta, std::size_t diagnostics_every, py::object on_epoch, int n_threads) {
        if (n_threads < 0) throw py::value_error(fmt::format("fit: n_threads must be 0 (the process's count) or more, got {}", n_threads));
        return fit(model, loss, optimizer, X, y, X_val, y_val,
                   {epochs, batch_size, num_classes, diagnostics_every, early_stop, min_delta, shuffle, seed, schedule,
                    clip_norm, n_threads},
                   std::move(on_epoch));
      },
      py::arg("model"), py::arg("loss"), py::arg("optimizer"), py::arg("X"), py::arg("y"), py::kw_only(),
      py::arg("epochs") = d.epochs, py::arg("batch_size") = d.batch_size, py::arg("shuffle") = d.shuffle,
      py::arg("seed") = d.seed, py::arg("num_classes") = 0, py::arg("X_val") = py::none(),
      py::arg("y_val") = py::none(), py::arg("schedule") = "none", py::arg("clip_norm") = 0.0,
      py::arg("early_stop") = 0, py::arg("min_delta") = 0.0, py::arg("diagnostics_every") = 0,
      py::arg("on_epoch") = py::none(), py::arg("n_threads") = 0,
      "Trains model on X [samples, features] and y (class labels 0..num_classes-1, or targets [samples, outputs]) "
      "with gradflow's Trainer; the GIL is released while it runs. Returns {history: one dict per epoch, "
      "diagnostics: per-layer records every diagnostics_every steps, warnings (also issued as RuntimeWarning), "
      "best_epoch, report: a Report, the page `gradflow report` draws, shown inline in Jupyter}. early_stop: stop after "
      "that many epochs without the validation loss improving by more than min_delta, keeping the best epoch's "
      "model. n_threads: at most that many threads for this fit (0: the process's count, gradflow.set_num_threads); "
      "other threads and the process's count are unaffected. on_epoch(dict) is "
      "called after each epoch and stops training by returning True. Ctrl-C raises KeyboardInterrupt within a "
      "second and leaves the model at its last completed step. float32 C-contiguous arrays are read in place; "
      "others are converted once.");
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
