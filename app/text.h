// Small pieces of the tool's English.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace gradflow::app {

// "1 epoch", "2 epochs"; `many` when the plural is not `one` + "s" ("class", "classes").
inline std::string plural(std::size_t n, std::string_view one, std::string_view many = {}) {
  if (n == 1) return fmt::format("1 {}", one);
  return many.empty() ? fmt::format("{} {}s", n, one) : fmt::format("{} {}", n, many);
}

}  // namespace gradflow::app
