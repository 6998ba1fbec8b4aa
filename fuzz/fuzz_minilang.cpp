// The option mini-languages on their own: --layers, --schedule, --stages, and a model file's
// architecture JSON; the first byte picks which.
#include <exception>
#include <string>

#include "runs/recipe.h"
#include "gradflow/model_file.h"
#include "gradflow/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gradflow;
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: runs::parse_hidden_layers(text, Init::Default, data[0] & 4, (data[0] & 8) ? 0.2f : 0.0f); break;
      case 1: parse_schedule(text, 20, data[0] >> 4); break;
      case 2: runs::parse_stages(text); break;
      case 3: {
        std::size_t in = 0;
        parse_architecture(text, in);
        break;
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}
