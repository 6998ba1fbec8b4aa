#include "checkpointer.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

namespace gradflow::app {

using nlohmann::json;

SaveCadence parse_save_every(const std::string& text) {
  SaveCadence c;
  const bool secs = !text.empty() && text.back() == 's';
  const std::string num = secs ? text.substr(0, text.size() - 1) : text;
  double v = -1;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  const bool ok = ec == std::errc() && p == num.data() + num.size() && std::isfinite(v) &&
                  (secs ? v >= 0 : v >= 1 && v == std::floor(v));
  if (!ok)
    throw std::invalid_argument(fmt::format(
        "--save-every '{}': expected seconds as Ns (e.g. 30s; 0s: every epoch) or a number of epochs N ≥ 1", text));
  if (secs) c.seconds = v;
  else c.epochs = static_cast<std::size_t>(v), c.seconds = 0;
  return c;
}

Checkpointer::Checkpointer(std::string folder, Sequential& model, Optimizer& optimizer, Trainer& trainer,
                           LrScheduler& scheduler, EarlyStopping* early, StagedUnfreezing* unfreezing, ModelInfo info,
                           SaveCadence cadence)
    : folder_(std::move(folder)), model_(model), optimizer_(optimizer), trainer_(trainer), scheduler_(scheduler),
      early_(early), unfreezing_(unfreezing), info_(std::move(info)),
      best_loss_(std::numeric_limits<double>::infinity()), cadence_(cadence),
      last_write_(std::chrono::steady_clock::now()) {}

std::string Checkpointer::path(const char* name) const { return (std::filesystem::path(folder_) / name).string(); }

void Checkpointer::save_model_file() { save_model(path("model.safetensors"), model_, info_); }

json Checkpointer::training_state(std::size_t epochs_done) const {
  const auto& plateau = scheduler_.schedule().plateau_state();
  json training{{"epoch", epochs_done},
                {"global_step", 0},
                {"layer_steps", optimizer_.layer_steps()},
                {"layer_lr_scales", optimizer_.layer_lr_scales()},
                {"model_rng", model_.rng().state()},
                {"shuffle_rng", trainer_.shuffle_rng().state()},
                {"plateau", {{"lr", plateau.lr}, {"best", std::isfinite(plateau.best) ? json(plateau.best) : json(nullptr)},
                             {"bad_epochs", plateau.bad_epochs}, {"cooldown_left", plateau.cooldown_left}}},
                {"best_loss", std::isfinite(best_loss_) ? json(best_loss_) : json(nullptr)},
                {"best_epoch", best_epoch_},
                {"frozen", unfreezing_ ? json(unfreezing_->frozen_now()) : json(nullptr)}};
  if (early_) training["early_stopping"] = {{"best_epoch", early_->best_epoch()}, {"bad_epochs", early_->bad_epochs()}};
  std::size_t steps = 0;
  for (auto s : optimizer_.layer_steps()) steps = std::max<std::size_t>(steps, static_cast<std::size_t>(s));
  training["global_step"] = steps;
  return training;
}

void Checkpointer::save_last(const json& training) {
  ModelInfo ck = info_;
  ck.metadata["gradflow.training"] = training.dump();
  for (auto& [name, t] : optimizer_.state())
    if (!t->empty()) ck.tensors.push_back({"optimizer." + name, t});
  save_model(path("checkpoint_last.safetensors"), model_, ck);
  saved_epoch_ = training["epoch"];
  saved_ = true;
}

void Checkpointer::save_state_as(const Sequential::State& state, const std::string& file, const ModelInfo& info) {
  Sequential::State now = model_.snapshot();
  model_.restore(state);
  save_model(file, model_, info);
  model_.restore(now);
}

void Checkpointer::write_pending() {
  if (last_good_ && last_good_epoch_ > model_written_epoch_) {
    save_state_as(*last_good_, path("model.safetensors"), info_);
    model_written_epoch_ = last_good_epoch_;
  }
  if (best_pending_) {
    ModelInfo b = info_;
    b.metadata["gradflow.training"] = json{{"epoch", best_epoch_}, {"val_loss", best_loss_}}.dump();
    save_state_as(*best_, path("checkpoint_best.safetensors"), b);
    best_pending_ = false;
  }
}

void Checkpointer::on_epoch_end(Trainer& t, const EpochMetrics& m) {
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
  save_last(training_state(m.epoch));
  write_pending();
  last_write_ = std::chrono::steady_clock::now();
}

bool Checkpointer::save_last_good() {
  if (!last_good_) return false;
  model_.restore(*last_good_);
  write_pending();
  return true;
}

void Checkpointer::save_interrupted() {
  const EpochPosition& p = trainer_.position();
  json training = training_state(p.epoch - 1);
  // Resuming starts this epoch over from its shuffle, then skips the steps already taken.
  training["shuffle_rng"] = trainer_.interrupted_shuffle_state();
  training["within"] = {{"epoch", p.epoch}, {"steps_done", p.steps_done}, {"loss_sum", p.loss_sum},
                        {"correct", p.correct}};
  save_last(training);
  write_pending();
}

std::size_t Checkpointer::resume(const ModelFile& last) {
  if (architecture_json(*last.model) != architecture_json(model_))
    throw std::invalid_argument("cannot resume: the checkpoint's architecture differs from the run's configuration");
  const auto it = last.info.metadata.find("gradflow.training");
  if (it == last.info.metadata.end()) throw std::invalid_argument("cannot resume: the checkpoint has no training state");
  json t;
  try {
    t = detail::parse_json<json>(it->second, "gradflow.training");
    model_.restore(last.model->snapshot());
    optimizer_.set_layer_steps(t["layer_steps"].get<std::vector<std::int64_t>>());
    const auto scales = t["layer_lr_scales"].get<std::vector<double>>();
    for (std::size_t i = 0; i < scales.size(); ++i) optimizer_.set_layer_lr_scale(i, scales[i]);
    for (auto& [name, tensor] : optimizer_.state()) {
      const auto found = last.tensors.find("optimizer." + name);
      if (found != last.tensors.end()) *tensor = found->second;
    }
    model_.rng().set_state(t["model_rng"].get<std::array<std::uint64_t, 4>>());
    trainer_.shuffle_rng().set_state(t["shuffle_rng"].get<std::array<std::uint64_t, 4>>());
    Schedule::PlateauState p;
    p.lr = t["plateau"]["lr"];
    p.best = t["plateau"]["best"].is_null() ? std::numeric_limits<double>::infinity() : t["plateau"]["best"].get<double>();
    p.bad_epochs = t["plateau"]["bad_epochs"];
    p.cooldown_left = t["plateau"]["cooldown_left"];
    scheduler_.schedule().set_plateau_state(p);
    best_loss_ = t["best_loss"].is_null() ? std::numeric_limits<double>::infinity() : t["best_loss"].get<double>();
    best_epoch_ = t.value("best_epoch", std::size_t{0});
    if (unfreezing_ && !t["frozen"].is_null()) unfreezing_->resume(model_, t["frozen"]);
    if (early_ && t.contains("early_stopping")) {
      const ModelFile best = load_model(path("checkpoint_best.safetensors"));
      early_->resume(best_loss_, t["early_stopping"]["best_epoch"], t["early_stopping"]["bad_epochs"],
                     best.model->snapshot());
    }
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("cannot resume: bad training state in the checkpoint: {}", e.what()));
  }
  const std::size_t epoch = t["epoch"];
  if (t.contains("within")) {
    const json& w = t["within"];
    if (w["epoch"] != epoch + 1)
      throw std::invalid_argument(fmt::format("cannot resume: the checkpoint stopped inside epoch {} after {} epochs",
                                              w["epoch"].dump(), epoch));
    trainer_.resume_within({w["epoch"], w["steps_done"], w["loss_sum"], w["correct"]}, t["global_step"]);
  } else {
    trainer_.resume_at(epoch, t["global_step"]);
  }
  saved_epoch_ = epoch;
  saved_steps_ = t["global_step"];
  return epoch;
}

std::vector<StagedUnfreezing::Stage> parse_stages(const std::string& text) {
  std::vector<StagedUnfreezing::Stage> stages;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t colon = item.find(':');
    StagedUnfreezing::Stage s{};
    bool ok = colon != std::string::npos;
    if (ok) {
      auto a = std::from_chars(item.data(), item.data() + colon, s.epoch);
      auto b = std::from_chars(item.data() + colon + 1, item.data() + item.size(), s.frozen);
      ok = a.ec == std::errc() && a.ptr == item.data() + colon && b.ec == std::errc() &&
           b.ptr == item.data() + item.size() && s.epoch >= 1;
    }
    if (!ok) throw std::invalid_argument(fmt::format("--stages: '{}' is not EPOCH:FROZEN_BLOCKS (e.g. 1:3,5:2,9:0)", item));
    stages.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (stages.front().epoch != 1) stages.insert(stages.begin(), {1, 0});
  return stages;
}

void keep_records(const std::string& path, const std::string& key, std::size_t last) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line cut short by an interruption
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    try {
      const json j = detail::parse_json<json>(line, path);
      if (j.at(key).get<std::size_t>() <= last) kept += line + "\n";
    } catch (const std::exception&) {
      // not a record of ours (or nested absurdly deep): dropped
    }
  }
  if (kept != text) write_file_atomic(path, kept);
}

}  // namespace gradflow::app
