#include "config.h"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow::app {

using nlohmann::json;

json to_json(const TrainConfig& c) {
  return {{"data", c.data},           {"test", c.test},
          {"val_split", c.val_split}, {"label_column", c.label_column},
          {"standardize", c.standardize}, {"limit", c.limit},
          {"test_limit", c.test_limit}, {"layers", c.layers},
          {"output", c.output},       {"loss", c.loss},
          {"init", c.init},           {"optimizer", c.optimizer},
          {"lr", c.lr},               {"batch_size", c.batch_size},
          {"epochs", c.epochs},       {"seed", c.seed},
          {"threads", c.threads},     {"shuffle", c.shuffle},
          {"out", c.out}};
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
    merged[k] = v;
  }
  TrainConfig c;
  try {
    c.data = merged["data"];
    c.test = merged["test"];
    c.val_split = merged["val_split"];
    c.label_column = merged["label_column"];
    c.standardize = merged["standardize"];
    c.limit = merged["limit"];
    c.test_limit = merged["test_limit"];
    c.layers = merged["layers"];
    c.output = merged["output"];
    c.loss = merged["loss"];
    c.init = merged["init"];
    c.optimizer = merged["optimizer"];
    c.lr = merged["lr"];
    c.batch_size = merged["batch_size"];
    c.epochs = merged["epochs"];
    c.seed = merged["seed"];
    c.threads = merged["threads"];
    c.shuffle = merged["shuffle"];
    c.out = merged["out"];
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", source, e.what()));
  }
  return c;
}

std::vector<LayerSpec> parse_hidden_layers(const std::string& text, Init init) {
  std::vector<LayerSpec> specs;
  if (text.empty() || text == "none") return specs;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t colon = item.find(':');
    const std::string units = item.substr(0, colon);
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(units.data(), units.data() + units.size(), n);
    if (ec != std::errc() || p != units.data() + units.size() || n == 0)
      throw std::invalid_argument(fmt::format(
          "--layers: '{}' is not UNITS[:ACTIVATION] (for example 256:relu,128:tanh)", item));
    specs.push_back(nn::dense(n, init));
    specs.push_back(colon == std::string::npos ? nn::relu() : parse_activation(item.substr(colon + 1)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return specs;
}

}  // namespace gradflow::app
