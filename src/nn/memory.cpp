#include "gradflow/memory.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace gradflow {

namespace {
struct Size {
  double params = 0, units = 0;
};

Size size_of(std::size_t in_features, const std::vector<LayerSpec>& layers) {
  Size s{0, static_cast<double>(in_features)};
  std::size_t width = in_features;
  for (const LayerSpec& l : layers) {
    // Parameters and running statistics alike (an overestimate by BatchNorm's 2 floats a unit).
    s.params += static_cast<double>(state_floats(l, width));
    width = output_width(l, width);
    s.units += static_cast<double>(width);
  }
  return s;
}

double physical_bytes() {
  return static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}
}  // namespace

void check_build_memory(std::size_t in_features, const std::vector<LayerSpec>& layers) {
  const Size s = size_of(in_features, layers);
  const double need = 4.0 * 2 * s.params, have = physical_bytes();
  if (have > 0 && need > 0.8 * have)
    throw MemoryLimitError(fmt::format("the network ({:.3g} parameters) needs about {:.1f} GB to hold, more than this "
                                       "machine's {:.1f} GB allows; use fewer or narrower layers",
                                       s.params, need / 1e9, have / 1e9));
}

void check_training_memory(std::size_t in_features, const std::vector<LayerSpec>& layers, std::size_t batch) {
  const Size s = size_of(in_features, layers);
  const double need = 4.0 * (6 * s.params + std::max(2.0 * static_cast<double>(batch), 1000.0) * s.units);
  const double have = physical_bytes();
  if (have > 0 && need > 0.8 * have)
    throw MemoryLimitError(fmt::format(
        "the network ({:.3g} parameters, batch {}) needs about {:.1f} GB to train, more than this machine's {:.1f} GB "
        "allows; use fewer or narrower layers (--layers) or a smaller --batch-size",
        s.params, batch, need / 1e9, have / 1e9));
}

}  // namespace gradflow
