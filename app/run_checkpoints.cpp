#include "run_checkpoints.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

namespace gradflow::app {

using nlohmann::json;

RunCheckpoints::RunCheckpoints(const RunFolder& folder, Sequential& model, Optimizer& optimizer, Trainer& trainer,
                               LrScheduler& scheduler, EarlyStopping* early, StagedUnfreezing* unfreezing,
                               ModelInfo info, SaveCadence cadence)
    : folder_(folder), model_(model), optimizer_(optimizer), trainer_(trainer), early_(early),
      info_(std::move(info)), best_loss_(std::numeric_limits<double>::infinity()), cadence_(cadence),
      last_write_(std::chrono::steady_clock::now()) {
  parts_ = {{"trainer", &trainer}, {"optimizer", &optimizer}, {"schedule", &scheduler}};
  if (early) parts_.push_back({"early_stopping", early});
  if (unfreezing) parts_.push_back({"unfreezing", unfreezing});
}

void RunCheckpoints::save_model_file() { save_model(folder_.model(), model_, info_); }

// Every stateful part saves its own state; the checkpoint only collects them. Version 2: the
// parts by name (version 1, before the parts saved themselves, is not read).
json RunCheckpoints::training_state() const {
  json training{{"version", 2},
                {"best", {{"val_loss", std::isfinite(best_loss_) ? json(best_loss_) : json(nullptr)},
                          {"epoch", best_epoch_}}}};
  for (const auto& [name, part] : parts_) training[name] = detail::parse_json<json>(part->state_json(), name);
  return training;
}

void RunCheckpoints::save_last(const json& training) {
  ModelInfo ck = info_;
  ck.metadata["gradflow.training"] = training.dump();
  for (auto& [name, t] : optimizer_.state())
    if (!t->empty()) ck.tensors.push_back({"optimizer." + name, t});
  save_model(folder_.checkpoint_last(), model_, ck);
  saved_epoch_ = training["trainer"]["epoch"];
  saved_ = true;
}

void RunCheckpoints::save_state_as(const Sequential::State& state, const std::string& file, const ModelInfo& info) {
  Sequential::State now = model_.snapshot();
  model_.restore(state);
  save_model(file, model_, info);
  model_.restore(now);
}

void RunCheckpoints::write_pending() {
  if (last_good_ && last_good_epoch_ > model_written_epoch_) {
    save_state_as(*last_good_, folder_.model(), info_);
    model_written_epoch_ = last_good_epoch_;
  }
  if (best_pending_) {
    ModelInfo b = info_;
    b.metadata["gradflow.training"] = json{{"epoch", best_epoch_}, {"val_loss", best_loss_}}.dump();
    save_state_as(*best_, folder_.checkpoint_best(), b);
    best_pending_ = false;
  }
}

void RunCheckpoints::on_epoch_end(Trainer& t, const EpochMetrics& m) {
  if (!std::isfinite(m.train_loss)) return;
  last_good_ = model_.snapshot();
  last_good_epoch_ = m.epoch;
  // The best epoch by the validation loss: without a validation set there is nothing to select on.
  if (!std::isnan(m.val_loss) && m.val_loss < best_loss_) {
    best_loss_ = m.val_loss;
    best_ = last_good_;
    best_epoch_ = m.epoch;
    best_pending_ = true;
  }
  const auto now = std::chrono::steady_clock::now();
  const bool due = cadence_.epochs ? m.epoch % cadence_.epochs == 0
                                   : std::chrono::duration<double>(now - last_write_).count() >= cadence_.seconds;
  const bool final = m.epoch >= t.options().epochs || (early_ && early_->stopped_early());
  if (!due && !final) return;
  save_model_file();
  model_written_epoch_ = m.epoch;
  save_last(training_state());
  write_pending();
  last_write_ = std::chrono::steady_clock::now();
}

bool RunCheckpoints::save_last_good() {
  if (!last_good_) return false;
  model_.restore(*last_good_);
  write_pending();
  return true;
}

void RunCheckpoints::save_interrupted() {
  save_last(training_state());  // the trainer's state says where in the epoch it stopped
  write_pending();
}

std::size_t RunCheckpoints::resume(const ModelFile& last) {
  if (architecture_json(*last.model) != architecture_json(model_))
    throw std::invalid_argument("cannot resume: the checkpoint's architecture differs from the run's configuration");
  const auto it = last.info.metadata.find("gradflow.training");
  if (it == last.info.metadata.end()) throw std::invalid_argument("cannot resume: the checkpoint has no training state");
  try {
    const json t = detail::parse_json<json>(it->second, "gradflow.training");
    if (t.value("version", 1) != 2)
      throw std::invalid_argument("it was written by an older gradflow (training state version 1); start the run "
                                  "again, or continue from its model with --init-from");
    model_.restore(last.model->snapshot());
    for (const auto& [name, part] : parts_) {
      if (!t.contains(name)) throw std::invalid_argument(fmt::format("no state for the {}", name));
      part->load_state_json(t.at(name).dump());
    }
    for (auto& [name, tensor] : optimizer_.state()) {
      const auto found = last.tensors.find("optimizer." + name);
      if (found != last.tensors.end()) *tensor = found->second;
    }
    const json& best = t.at("best");
    best_loss_ = best.at("val_loss").is_null() ? std::numeric_limits<double>::infinity()
                                               : best.at("val_loss").get<double>();
    best_epoch_ = best.at("epoch").get<std::size_t>();
    // Early stopping's best epoch ends the run as its model: checkpoint_best holds it.
    if (early_ && early_->best_epoch() > 0)
      early_->set_best_state(load_model(folder_.checkpoint_best()).model->snapshot());
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("cannot resume: bad training state in the checkpoint: {}", e.what()));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("cannot resume from {}: {}", folder_.checkpoint_last(), e.what()));
  }
  saved_epoch_ = trainer_.epochs_done();
  saved_steps_ = trainer_.global_step();
  return saved_epoch_;
}

}  // namespace gradflow::app
