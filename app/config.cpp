#include "config.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/model_file.h"

namespace gradflow::app {

using nlohmann::json;

// One list of fields for both directions (nlohmann's to_json/from_json for TrainConfig).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TrainConfig, data, test, test_split, val, val_split, label_column, task, max_classes, impute, standardize, limit, test_limit, layers, batchnorm, dropout, output, loss, init, optimizer, lr, momentum, weight_decay, beta1, beta2, eps, amsgrad, centered, schedule, warmup, clip_norm, clip_value, early_stop, batch_size, drop_last, epochs, seed, threads, shuffle, sync_batchnorm, classes, per_class, init_from, freeze, unfreeze_every, stages, unfrozen_lr_scale, diagnostics_every, report, save_every, out, resume)

json to_json(const TrainConfig& c) {
  json j;
  to_json(j, c);
  return j;
}

TrainConfig from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw std::runtime_error(fmt::format("{}: expected a JSON object", source));
  json merged = to_json(TrainConfig{});
  for (auto& [k, v] : j.items()) {
    if (!merged.contains(k))
      throw std::runtime_error(fmt::format("{}: unknown key '{}'", source, k));
    if (merged[k].is_number() != v.is_number() || merged[k].is_string() != v.is_string() ||
        merged[k].is_boolean() != v.is_boolean())
      throw std::runtime_error(fmt::format("{}: '{}' should be a {} like {}, got {}", source, k,
                                           merged[k].type_name(), merged[k].dump(), v.dump()));
    // JSON has no NaN; negative or fractional values for a count would wrap or truncate.
    if (merged[k].is_number_unsigned() && !v.is_number_unsigned())
      throw std::runtime_error(fmt::format("{}: '{}' should be a whole number ≥ 0, got {}", source, k, v.dump()));
    if (merged[k].is_number_integer() && !v.is_number_integer())
      throw std::runtime_error(fmt::format("{}: '{}' should be a whole number, got {}", source, k, v.dump()));
    merged[k] = v;
  }
  TrainConfig c;
  try {
    c = merged.get<TrainConfig>();
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", source, e.what()));
  }
  return c;
}

namespace {
float parse_rate(const std::string& item, const std::string& text) {
  float p = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(p >= 0 && p < 1))
    throw std::invalid_argument(fmt::format("--layers: '{}': the dropout rate must be in [0, 1)", item));
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
            item));
      LayerSpec act = nn::relu();
      bool bn = batchnorm;
      float rate = dropout;
      for (std::size_t i = 1; i < parts.size(); ++i) {
        if (parts[i] == "bn" || parts[i] == "batchnorm") bn = true;
        else if (is_dropout(parts[i])) rate = parse_rate(item, parts[i].substr(8));
        else if (i == 1) act = parse_activation(parts[i]);
        else throw std::invalid_argument(fmt::format("--layers: '{}': unknown part '{}'", item, parts[i]));
      }
      // Ioffe & Szegedy: normalize the pre-activation z, between the Dense and its activation.
      specs.push_back(nn::dense(n, init));
      if (bn) specs.push_back(nn::batch_norm());
      specs.push_back(act);
      if (rate > 0) specs.push_back(nn::dropout(rate));
    }
    if (specs.size() > kMaxLayers)
      throw std::invalid_argument(fmt::format("--layers: more than {} layers", kMaxLayers));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return specs;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c) {
  const std::string& o = c.optimizer;
  if (o == "sgd") return std::make_unique<SGD>(SGDOptions{.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay});
  if (o == "momentum" || o == "nesterov")
    return std::make_unique<SGD>(SGDOptions{.lr = c.lr, .momentum = c.momentum > 0 ? c.momentum : 0.9,
                                            .weight_decay = c.weight_decay, .nesterov = o == "nesterov"});
  if (o == "adagrad") return std::make_unique<Adagrad>(AdagradOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  if (o == "rmsprop")
    return std::make_unique<RMSprop>(RMSpropOptions{.lr = c.lr, .eps = c.eps, .weight_decay = c.weight_decay,
                                                    .momentum = c.momentum, .centered = c.centered});
  if (o == "adam" || o == "adamw") {
    AdamOptions a{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps, .weight_decay = c.weight_decay,
                  .amsgrad = c.amsgrad, .decoupled = o == "adamw"};
    return std::make_unique<Adam>(a);
  }
  throw std::invalid_argument(fmt::format(
      "unknown optimizer '{}' (expected sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw)", o));
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
        "--save-every '{}': expected seconds as Ns (e.g. 30s; 0s: every epoch) or a number of epochs N ≥ 1", text));
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
    if (!ok) throw std::invalid_argument(fmt::format("--stages: '{}' is not EPOCH:FROZEN_BLOCKS (e.g. 1:3,5:2,9:0)", item));
    stages.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (stages.front().epoch != 1) stages.insert(stages.begin(), {1, 0});
  return stages;
}

}  // namespace gradflow::app
