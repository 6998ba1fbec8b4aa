// --config files: JSON into a Recipe, then the mini-languages it carries (--layers,
// --schedule, --stages) and the optimizer it names.
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "runs/recipe.h"
#include "gradflow/detail/json_depth.h"
#include "gradflow/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gradflow;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const runs::Recipe c = runs::from_json(detail::parse_json<nlohmann::json>(text, "config"), "config");
    runs::parse_hidden_layers(c.layers, Init::Default, c.batchnorm, static_cast<float>(c.dropout));
    parse_schedule(c.schedule, c.epochs, c.warmup);
    if (!c.stages.empty()) runs::parse_stages(c.stages);
    runs::Recipe resolved = c;
    runs::resolve_optimizer(resolved);
  } catch (const std::exception&) {
  }
  return 0;
}
