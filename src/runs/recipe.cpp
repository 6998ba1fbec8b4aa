#include "runs/recipe.h"

#include <algorithm>
#include <charconv>
#include <type_traits>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

#include "gradflow/model_file.h"

namespace gradflow::runs {

using nlohmann::json;

namespace {

using C = Recipe;

std::vector<RecipeOption> data_options() {
  return {
      {"data", "--data", &C::data,
       "training data: fashion-mnist | DIR of MNIST files | IMAGES,LABELS (IDX, .gz or not) | FILE.csv | xor | "
       "spirals | moons | sine"},
      {"test", "--test", &C::test,
       "test data, same forms as --data (default: the data set's test split), or none (while choosing a recipe on a "
       "validation split, the test set stays unseen)"},
      {"test_split", "--test-split", &C::test_split,
       "hold out this fraction of the data (stratified) as the test set, for data without a test split"},
      {"val", "--val", &C::val,
       "validation data, same forms as --data: early stopping, the plateau schedule and checkpoint_best select on it "
       "(never on the test set)"},
      {"val_split", "--val-split", &C::val_split,
       "hold out this fraction of the training data (stratified) as the validation set (0: none, but 0.1 when "
       "--early-stop or a plateau schedule needs one)"},
      {"label_column", "--label-column", &C::label_column,
       "CSV label column: header name or index (negative counts from the end)"},
      {"task", "--task", &C::task,
       "auto (regression for sine or --loss mse, else classification) | classification | regression",
       "auto|classification|regression"},
      {"max_classes", "--max-classes", &C::max_classes,
       "at most this many classes: a CSV label that is a number is a class index below it (more distinct numbers "
       "than this are taken for a numeric target: an error that suggests --task regression)"},
      {"impute", "--impute", &C::impute,
       "CSV missing values (empty, NA, nan, ?, …): none (an error naming row and column) | mean | median (of the "
       "training set, kept with the model)",
       "none|mean|median"},
      {"drop_columns", "--drop-columns", &C::drop_columns,
       "CSV columns to leave out, by header name, comma-separated (an unnamed first column, pandas' index, always "
       "is)"},
      {"feature_columns", "--feature-columns", &C::feature_columns,
       "CSV feature columns, by header name, comma-separated (default: every column but the label)"},
      {"standardize", "--standardize,!--no-standardize", &C::standardize,
       "standardize features with the training set's mean/std (kept with the model)"},
      {"limit", "--limit", &C::limit, "use only the first N training samples (0: all)"},
      {"test_limit", "--test-limit", &C::test_limit, "use only the first N test samples (0: all)"},
  };
}

std::vector<RecipeOption> model_options() {
  return {
      {"layers", "--layers", &C::layers,
       "hidden layers, exactly as written: comma-separated UNITS[:ACTIVATION][:bn][:dropout=P], or bn (BatchNorm, "
       "first: on the input) or dropout=P; activations: " + activation_names(" ") + "; auto: " + kLargeDataLayers +
           " from 16,384 training rows up, else " + kSmallDataLayers},
      {"batchnorm", "--batchnorm,!--no-batchnorm", &C::batchnorm,
       "batch normalization after every hidden Dense, before its activation (per layer: 256:relu:bn)"},
      {"dropout", "--dropout", &C::dropout, "dropout rate after every hidden activation (per layer: 256:relu:dropout=0.2)"},
      {"output", "--output", &C::output,
       "output activation: auto (softmax for cross_entropy, sigmoid for bce, else identity) | " +
           activation_names(" | ")},
      {"loss", "--loss", &C::loss, "auto (mse for regression data, else cross_entropy) | " + loss_names(" | ")},
      {"init", "--init", &C::init,
       "weight initializer: default (He for ReLU family, LeCun for SELU, else Glorot) | normal | glorot_normal | "
       "glorot_uniform | lecun_normal | lecun_uniform | he_normal | he_uniform"},
  };
}

std::vector<RecipeOption> training_options() {
  std::string optimizers;
  for (const OptimizerKind& k : optimizer_kinds()) optimizers += fmt::format("{}{}", optimizers.empty() ? "" : " | ", k.name);
  return {
      {"optimizer", "--optimizer", &C::optimizer,
       "update rule: " + optimizers + " (its hyper-parameters: the options below; each takes the optimizer's own "
       "default, PyTorch's, unless given)"},
      {"lr", "--lr,--learning-rate", &C::lr, "learning rate (the schedule's starting rate), for any optimizer"},
      {"schedule", "--schedule", &C::schedule,
       "learning-rate schedule per epoch: " + schedule_forms(" | ") +
           " (cosine's T_MAX: the epochs after the warm-up; plateau: on the validation loss)"},
      {"warmup", "--warmup", &C::warmup, "linear learning-rate warm-up over this many epochs, from lr/3"},
      {"schedule_epochs", "--schedule-epochs", &C::schedule_epochs,
       "plan the schedule over this many epochs (0: --epochs); a resumed run keeps its plan and steps it further "
       "as PyTorch's scheduler would, unless this re-plans it"},
      {"clip_norm", "--clip-norm", &C::clip_norm, "clip the gradients' global L2 norm to this (0: off)"},
      {"clip_value", "--clip-value", &C::clip_value, "clip every gradient element to [-v, v] (0: off)"},
      {"early_stop", "--early-stop", &C::early_stop,
       "stop after this many epochs without a better validation loss, keeping the best epoch's model (0: off)"},
      {"min_delta", "--min-delta", &C::min_delta,
       "early stopping: a validation loss is better when it is lower than the best by more than this"},
      {"batch_size", "--batch-size", &C::batch_size,
       "minibatch size (0: from the training rows — 128 from 16,384 rows up, else rows/8 within 16..128)"},
      {"drop_last", "--drop-last,!--no-drop-last", &C::drop_last,
       "skip each epoch's last partial batch (without it, a last batch of 1 sample joins the one before when the "
       "model has BatchNorm)"},
      {"epochs", "--epochs", &C::epochs,
       "passes over the training data (0: from the training rows — 15 from 16,384 rows up, else about 2,000 steps "
       "within 15..200)"},
      {"seed", "--seed", &C::seed, "seed for initialization, shuffling and noise"},
      {"threads", "--threads", &C::threads, "compute threads (0: GRADFLOW_NUM_THREADS, else one per core)"},
      {"shuffle", "--shuffle,!--no-shuffle", &C::shuffle,
       "reshuffle the training data every epoch (--no-shuffle: in order)"},
      {"sync_batchnorm", "--sync-batchnorm", &C::sync_batchnorm,
       "under mpirun: BatchNorm statistics over the whole batch (every rank's slice; SyncBatchNorm) instead of each "
       "rank's own slice"},
  };
}

// Transfer learning, diagnostics and the run folder.
std::vector<RecipeOption> run_options() {
  return {
      {"classes", "--classes", &C::classes, "keep only these classes, e.g. 5,7,8,9 (relabelled 0.. in this order)"},
      {"per_class", "--per-class", &C::per_class, "use only the first N training samples of each class (0: all)"},
      {"init_from", "--init-from", &C::init_from,
       "start from a model (.safetensors, .onnx or run folder): its lower layers that match by shape"},
      {"freeze", "--freeze", &C::freeze, "keep the first N blocks (a Dense with its BN/activation/dropout) frozen"},
      {"unfreeze_every", "--unfreeze-every", &C::unfreeze_every,
       "unfreeze one more frozen block, top down, every E epochs (0: never)"},
      {"stages", "--stages", &C::stages, "explicit unfreezing stages EPOCH:FROZEN_BLOCKS,… e.g. 1:3,5:2,9:0"},
      {"unfrozen_lr_scale", "--unfrozen-lr-scale", &C::unfrozen_lr_scale,
       "learning-rate factor for blocks once unfrozen"},
      {"diagnostics_every", "--diagnostics-every", &C::diagnostics_every,
       "record per-layer diagnostics every N steps into diagnostics.jsonl, with warnings (0: off; auto: every 50 "
       "steps, more often in short runs to get 20 records or more; always the last step)"},
      {"report", "--report,!--no-report", &C::report, "write report.html into the run folder at the end"},
      {"save_every", "--save-every", &C::save_every,
       "checkpoint cadence: Ns (at most every N seconds) or N (every N epochs); always at the end, on early "
       "stopping, divergence and interruption"},
      {"out", "--out", &C::out, "run folder (default: runs/<date>-<time>)"},
      {"resume", "--resume", &C::resume,
       "continue the run in this folder from its last checkpoint (its config.json; flags such as --epochs override)"},
  };
}

// Every `gradflow train` option but the optimizers' hyper-parameters (main.cpp adds those from
// optimizer_kinds()), in the order --help lists them.
std::vector<RecipeOption> make_recipe_options() {
  std::vector<RecipeOption> all;
  for (auto part : {data_options, model_options, training_options, run_options}) {
    std::vector<RecipeOption> o = part();
    all.insert(all.end(), std::make_move_iterator(o.begin()), std::make_move_iterator(o.end()));
  }
  return all;
}

// The keys of config.json version 1 that were the optimizers' settings.
constexpr const char* kVersion1OptimizerKeys[] = {"momentum", "weight_decay", "beta1", "beta2",
                                                  "eps",      "amsgrad",      "centered"};

// A version-1 file as the run it describes used it: its optimizer settings move into
// optimizer_options where the optimizer took them (momentum 0 meant 0.9 for momentum and
// nesterov), and a number of diagnostics steps becomes that number as text.
json migrate(json j) {
  if (j.contains("version")) return j;
  json options = json::object();
  // (a non-string optimizer is reported by from_json, naming the key)
  const std::string optimizer =
      j.contains("optimizer") && j["optimizer"].is_string() ? j["optimizer"].get<std::string>() : Recipe{}.optimizer;
  const auto kind = std::find_if(optimizer_kinds().begin(), optimizer_kinds().end(),
                                  [&](const OptimizerKind& k) { return k.name == optimizer; });
  for (const char* key : kVersion1OptimizerKeys) {
    if (!j.contains(key)) continue;
    json v = j[key];
    j.erase(key);
    if (kind == optimizer_kinds().end()) continue;  // an unknown name is reported later
    const bool takes = std::any_of(kind->params.begin(), kind->params.end(),
                                   [&](const Hyperparameter& p) { return p.name == key; });
    const bool implied = std::string_view(key) == "momentum" && (optimizer == "momentum" || optimizer == "nesterov") &&
                         v.is_number() && v.get<double>() == 0;
    if (takes && !implied) options[key] = v;
  }
  if (!options.empty()) j["optimizer_options"] = options;
  if (j.contains("diagnostics_every") && j["diagnostics_every"].is_number_unsigned())
    j["diagnostics_every"] = std::to_string(j["diagnostics_every"].get<std::size_t>());
  j["version"] = kConfigVersion;
  return j;
}

// v as the member's type; throws naming the key and what was expected.
template <class M>
void read_member(Recipe& c, M Recipe::*member, const char* key, const json& v, const std::string& source) {
  const json example = Recipe{}.*member;
  // A number where the flag takes text means what the same flag means: "save_every": 1 is
  // --save-every 1, "diagnostics_every": 25 is --diagnostics-every 25.
  if constexpr (std::is_same_v<M, std::string>)
    if (v.is_number()) {
      c.*member = v.dump();
      return;
    }
  const bool fits = std::is_same_v<M, bool> ? v.is_boolean()
                    : std::is_same_v<M, std::string> ? v.is_string()
                    : std::is_unsigned_v<M> ? v.is_number_unsigned()
                    : std::is_integral_v<M> ? v.is_number_integer()
                                            : v.is_number();
  if (!fits) {
    const char* what = std::is_unsigned_v<M> && !std::is_same_v<M, bool> ? "a whole number ≥ 0"
                       : std::is_integral_v<M> && !std::is_same_v<M, bool> ? "a whole number"
                                                                             : example.type_name();
    throw std::runtime_error(fmt::format("{}: '{}' should be {} like {}, got {}", source, key,
                                         std::string_view(what).starts_with("a ") ? what : fmt::format("a {}", what),
                                         example.dump(), detail::quote(v.dump())));
  }
  c.*member = v.get<M>();
}
}  // namespace

std::string adapt_to_data(Recipe& c, std::size_t rows) {
  std::string chosen;
  if (c.layers == "auto") {
    c.layers = rows >= kLargeData ? kLargeDataLayers : kSmallDataLayers;
    chosen = "layers " + c.layers + ", ";
  }
  if (c.batch_size == 0) {
    std::size_t b = 128;
    if (rows < kLargeData) {
      const double eighth = std::max(1.0, static_cast<double>(rows) / 8);
      b = std::clamp<std::size_t>(std::size_t{1} << static_cast<int>(std::lround(std::log2(eighth))), 16, 128);
    }
    c.batch_size = b;
    chosen += fmt::format("batch {} (of {} rows), ", b, rows);
  }
  if (c.epochs == 0) {
    std::size_t e = 15;
    if (rows < kLargeData) {
      const std::size_t steps = std::max<std::size_t>(1, (rows + c.batch_size - 1) / c.batch_size);
      e = std::clamp<std::size_t>((kAdaptiveSteps + steps - 1) / steps, 15, 200);
    }
    c.epochs = e;
    chosen += fmt::format("{} epochs", e);
  }
  if (chosen.ends_with(", ")) chosen.resize(chosen.size() - 2);
  return chosen.empty() ? "" : chosen + ": chosen for the data size (--layers, --batch-size, --epochs set them)";
}

std::span<const RecipeOption> recipe_options() {
  static const std::vector<RecipeOption> options = make_recipe_options();
  return options;
}

json to_json(const Recipe& c) {
  json j{{"version", c.version}};
  for (const RecipeOption& o : recipe_options()) std::visit([&](auto m) { j[o.key] = c.*m; }, o.member);
  j["optimizer_options"] = c.optimizer_options;
  return j;
}

json config_json(const Recipe& c) {
  json saved = to_json(c);
  saved.erase("resume");
  saved.erase("out");
  return saved;
}

Recipe from_json(const json& given, const std::string& source) {
  if (!given.is_object()) throw std::runtime_error(fmt::format("{}: expected a JSON object", source));
  const json j = migrate(given);
  Recipe c;
  // Named references, not a structured binding: the lambdas below capture them, which clang 14
  // (scripts/fuzz.sh) does not allow for bindings.
  for (const auto& item : j.items()) {
    const std::string& k = item.key();
    const json& v = item.value();
    if (k == "version") {
      if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > kConfigVersion)
        throw std::runtime_error(fmt::format("{}: version {} is not one this gradflow reads (1 to {}); a newer "
                                             "gradflow wrote it",
                                             source, detail::quote(v.dump()), kConfigVersion));
      continue;
    }
    if (k == "optimizer_options") {
      if (!v.is_object()) throw std::runtime_error(fmt::format("{}: 'optimizer_options' should be an object", source));
      c.optimizer_options = v;
      continue;
    }
    const auto& options = recipe_options();
    const auto o = std::find_if(options.begin(), options.end(), [&](const RecipeOption& t) { return t.key == k; });
    if (o == options.end()) throw std::runtime_error(fmt::format("{}: unknown key '{}'", source, detail::quote(k)));
    std::visit([&](auto m) { read_member(c, m, o->key, v, source); }, o->member);
    if (o->min > 0 && v.get<double>() < static_cast<double>(o->min))
      throw std::runtime_error(
          fmt::format("{}: '{}' should be a whole number ≥ {}, got {}", source, k, o->min, detail::quote(v.dump())));
    if (o->choices && !is_choice(o->choices, c.*std::get<std::string Recipe::*>(o->member)))
      throw std::runtime_error(
          fmt::format("{}: '{}' should be one of {}, got {}", source, k, o->choices, detail::quote(v.dump())));
  }
  return c;
}

bool is_choice(std::string_view choices, std::string_view value) {
  for (std::size_t a = 0;;) {
    const std::size_t b = choices.find('|', a);
    if (choices.substr(a, b == std::string_view::npos ? b : b - a) == value) return true;
    if (b == std::string_view::npos) return false;
    a = b + 1;
  }
}

std::unique_ptr<Optimizer> recipe_optimizer(const Recipe& c) {
  const OptimizerKind& kind = optimizer_kind(c.optimizer);
  HyperparameterValues given{{"lr", c.lr}};
  for (auto& [name, v] : c.optimizer_options.items()) {
    if (name == "lr") throw std::invalid_argument("optimizer_options: the learning rate is 'lr', outside it");
    if (!v.is_number() && !v.is_boolean())
      throw std::invalid_argument(fmt::format("optimizer_options: '{}' should be a number or true/false, got {}",
                                              detail::quote(name), detail::quote(v.dump())));
    given[name] = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
  }
  return make_optimizer(kind.name, given);
}

std::unique_ptr<Optimizer> resolve_optimizer(Recipe& c) {
  std::unique_ptr<Optimizer> o = recipe_optimizer(c);
  c.optimizer_options = optimizer_options_json(*o);
  return o;
}

json optimizer_options_json(const Optimizer& optimizer) {
  json used = json::object();
  if (optimizer.hyperparameters().empty()) return used;
  for (const Hyperparameter& p : optimizer_kind(optimizer.registered_name()).params)
    if (p.name != "lr") {
      const double v = optimizer.hyperparameters().find(p.name)->second;
      used[std::string(p.name)] = p.type == Hyperparameter::Type::Flag ? json(v != 0) : json(v);
    }
  return used;
}

namespace {
float parse_rate(const std::string& item, const std::string& text) {
  float p = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(p >= 0 && p < 1))
    throw std::invalid_argument(fmt::format("--layers: '{}': the dropout rate must be in [0, 1)", detail::quote(item)));
  return p;
}
}  // namespace

std::vector<LayerSpec> parse_hidden_layers(const std::string& text, Init init, bool batchnorm, float dropout) {
  if (!(dropout >= 0 && dropout < 1))
    throw std::invalid_argument(fmt::format("--dropout {}: the dropout rate must be in [0, 1)", dropout));
  std::vector<LayerSpec> specs;
  if (text.empty() || text == "none") return specs;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::vector<std::string> parts;
    for (std::size_t a = 0;;) {
      const std::size_t b = item.find(':', a);
      parts.push_back(item.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
    auto is_dropout = [](const std::string& p) { return p.rfind("dropout=", 0) == 0; };
    if (parts.size() == 1 && (parts[0] == "bn" || parts[0] == "batchnorm")) {
      specs.push_back(nn::batch_norm());
    } else if (parts[0] == "dropout" && parts.size() == 2) {
      specs.push_back(nn::dropout(parse_rate(item, parts[1])));
    } else if (parts.size() == 1 && is_dropout(parts[0])) {
      specs.push_back(nn::dropout(parse_rate(item, parts[0].substr(8))));
    } else {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), n);
      if (ec != std::errc() || p != parts[0].data() + parts[0].size() || n == 0)
        throw std::invalid_argument(fmt::format(
            "--layers: '{}' is not UNITS[:ACTIVATION][:bn][:dropout=P], bn or dropout=P (for example "
            "256:relu:bn,128:tanh:dropout=0.2)",
            detail::quote(item)));
      LayerSpec act = nn::relu();
      bool bn = batchnorm;
      float rate = dropout;
      for (std::size_t i = 1; i < parts.size(); ++i) {
        if (parts[i] == "bn" || parts[i] == "batchnorm") bn = true;
        else if (is_dropout(parts[i])) rate = parse_rate(item, parts[i].substr(8));
        else if (i == 1) act = parse_activation(parts[i]);
        else throw std::invalid_argument(
            fmt::format("--layers: '{}': unknown part '{}'", detail::quote(item), detail::quote(parts[i])));
      }
      const nn::Block block{.units = n, .activation = act, .batch_norm = bn, .dropout = rate, .init = init};
      for (LayerSpec& l : nn::mlp(std::span(&block, 1))) specs.push_back(std::move(l));
    }
    if (specs.size() > kMaxLayers)
      throw std::invalid_argument(fmt::format("--layers: more than {} layers", kMaxLayers));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return specs;
}

namespace {
// The --layers text of the blocks (init aside), or nullopt.
std::optional<std::string> hidden_layers_text(std::span<const LayerSpec> hidden) {
  const auto blocks = nn::blocks_of(hidden);
  if (!blocks) return std::nullopt;
  std::string text;
  for (const nn::Block& b : *blocks) {
    const std::string_view act = to_string(b.activation.kind);
    if (parse_activation(act) != b.activation) return std::nullopt;
    text += fmt::format("{}{}:{}{}", text.empty() ? "" : ",", b.units, act, b.batch_norm ? ":bn" : "");
    if (b.dropout > 0) text += fmt::format(":dropout={}", b.dropout);
  }
  return text.empty() ? "none" : text;
}
}  // namespace

std::optional<NetworkText> network_text(const std::vector<LayerSpec>& specs) {
  std::size_t out = specs.size();
  while (out > 0 && specs[out - 1].kind != LayerKind::Dense) --out;
  if (out == 0 || out + 1 < specs.size()) return std::nullopt;
  NetworkText t;
  if (out == specs.size()) t.output = "identity";
  else if (is_activation(specs[out].kind) && parse_activation(to_string(specs[out].kind)) == specs[out])
    t.output = to_string(specs[out].kind);
  else return std::nullopt;
  const auto hidden = hidden_layers_text(std::span(specs).first(out - 1));
  if (!hidden) return std::nullopt;
  t.layers = *hidden;
  // The text builds the same network when its inits resolve to these: "default", or one for all.
  for (const Init init : {Init::Default, specs[out - 1].dense().init}) {
    std::vector<LayerSpec> again = parse_hidden_layers(t.layers, init);
    again.push_back(nn::dense(specs[out - 1].dense().units, init));
    if (t.output != "identity") again.push_back(parse_activation(t.output));
    if (resolve_inits(again) == specs) {
      t.init = to_string(init);
      return t;
    }
  }
  return std::nullopt;
}

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
        "--save-every '{}': expected seconds as Ns (e.g. 30s; 0s: every epoch) or a number of epochs N ≥ 1",
        detail::quote(text)));
  if (secs) c.seconds = v;
  else c.epochs = static_cast<std::size_t>(v), c.seconds = 0;
  return c;
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
    if (!ok) throw std::invalid_argument(
          fmt::format("--stages: '{}' is not EPOCH:FROZEN_BLOCKS (e.g. 1:3,5:2,9:0)", detail::quote(item)));
    stages.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (stages.front().epoch != 1) stages.insert(stages.begin(), {1, 0});
  return stages;
}

std::vector<StagedUnfreezing::Stage> unfreezing_stages(const Recipe& c) {
  if (!c.stages.empty()) return parse_stages(c.stages);
  if (c.freeze > 0) return StagedUnfreezing::every(c.freeze, c.unfreeze_every);
  return {};
}

ScheduleOptions recipe_schedule(const Recipe& c) {
  return parse_schedule(c.schedule, c.schedule_epochs ? c.schedule_epochs : c.epochs, c.warmup);
}

std::size_t parse_diagnostics_every(const std::string& text) {
  if (text == "auto") return kAutoDiagnostics;
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n == kAutoDiagnostics)
    throw std::invalid_argument(fmt::format("--diagnostics-every '{}': expected a number of steps, 0 (off) or auto",
                                            detail::quote(text)));
  return n;
}

TrainingRun build_training(const Recipe& c, Sequential& model, const Loss& loss, Optimizer& optimizer,
                           const Dataset& train, GradientReducer* reducer) {
  if (c.batch_size == 0 || c.epochs == 0)
    throw std::invalid_argument("build_training: batch size and epochs must be resolved (adapt_to_data)");
  if (c.clip_norm < 0 || c.clip_value < 0) throw std::invalid_argument("--clip-norm and --clip-value must be >= 0");
  if (!(c.min_delta >= 0)) throw std::invalid_argument(fmt::format("--min-delta must be >= 0, got {}", c.min_delta));
  const std::vector<StagedUnfreezing::Stage> stages = unfreezing_stages(c);
  for (const auto& st : stages)
    if (st.frozen >= count_blocks(model))
      throw std::invalid_argument(fmt::format("cannot freeze {} blocks: the model has {} Dense layers (the output's "
                                              "must stay trainable)",
                                              st.frozen, count_blocks(model)));
  if (optimizer.evaluates() && (c.clip_norm > 0 || c.clip_value > 0))
    throw std::invalid_argument(fmt::format("--optimizer {} searches along its own direction, from the batch's "
                                            "gradients as they are: --clip-norm and --clip-value do not apply",
                                            optimizer.registered_name()));
  TrainingRun r;
  TrainOptions o{.epochs = c.epochs, .batch_size = c.batch_size, .shuffle = c.shuffle, .seed = c.seed,
                 .drop_last = c.drop_last};
  o.reducer = reducer;
  r.trainer = std::make_unique<Trainer>(model, loss, optimizer, o);
  r.trainer->check(train);
  r.scheduler = std::make_unique<LrScheduler>(recipe_schedule(c));
  r.trainer->add_callback(*r.scheduler);
  if (c.clip_norm > 0 || c.clip_value > 0) {
    r.clipping = std::make_unique<GradientClipping>(c.clip_norm > 0 ? std::optional<double>(c.clip_norm) : std::nullopt,
                                                    c.clip_value > 0 ? std::optional<double>(c.clip_value) : std::nullopt);
    r.trainer->add_callback(*r.clipping);
  }
  if (c.early_stop > 0) r.trainer->add_callback(*(r.early = std::make_unique<EarlyStopping>(c.early_stop, c.min_delta)));
  if (!stages.empty())
    r.trainer->add_callback(*(r.unfreezing = std::make_unique<StagedUnfreezing>(stages, c.unfrozen_lr_scale)));
  // auto: every 50 steps, but at least ~20 records in a short run (always the last step)
  std::size_t every = parse_diagnostics_every(c.diagnostics_every);
  if (every == kAutoDiagnostics)
    every = std::clamp<std::size_t>(c.epochs * r.trainer->steps_per_epoch(train.size()) / 20, 1, 50);
  if (every > 0) {
    r.diagnostics =
        std::make_unique<Diagnostics>(DiagnosticsOptions{.every = every, .input_scale = input_scale(train.x)});
    r.trainer->add_callback(*r.diagnostics);
  }
  return r;
}

}  // namespace gradflow::runs
