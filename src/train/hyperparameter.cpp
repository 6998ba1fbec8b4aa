#include "gradflow/hyperparameter.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

namespace gradflow {

std::string describe_range(const Hyperparameter& p) {
  using T = Hyperparameter::Type;
  if (p.type == T::Flag) return "true or false";
  const bool unbounded = p.high >= 1e300;
  const std::string what = p.type == T::Whole ? "a whole number " : "";
  if (unbounded) return fmt::format("{}{} {:g}", what, p.low_open ? ">" : "≥", p.low);
  return fmt::format("{}in {}{:g}, {:g}{}", what, p.low_open ? "(" : "[", p.low, p.high, p.high_open ? ")" : "]");
}

namespace {
bool in_range(const Hyperparameter& p, double v) {
  using T = Hyperparameter::Type;
  if (!std::isfinite(v)) return false;
  if (p.type == T::Flag) return v == 0 || v == 1;
  if (p.type == T::Whole && v != std::floor(v)) return false;
  const bool above = p.low_open ? v > p.low : v >= p.low;
  const bool below = p.high_open ? v < p.high : v <= p.high;
  return above && below;
}
}  // namespace

HyperparameterValues resolve_hyperparameters(std::string_view who, std::span<const Hyperparameter> params,
                                             const HyperparameterValues& given) {
  for (const auto& [name, v] : given) {
    const Hyperparameter* p = nullptr;
    for (const Hyperparameter& q : params)
      if (q.name == name) p = &q;
    if (!p) {
      std::string names;
      for (const Hyperparameter& q : params) names += fmt::format("{}{}", names.empty() ? "" : ", ", q.name);
      throw std::invalid_argument(
          fmt::format("{} has no hyper-parameter '{}' (it takes {})", who, detail::quote(name), names.empty() ? "none" : names));
    }
    if (!in_range(*p, v))
      throw std::invalid_argument(fmt::format("{}: {} must be {}, got {}", who, name, describe_range(*p), v));
  }
  HyperparameterValues all = given;
  for (const Hyperparameter& p : params) all.try_emplace(std::string(p.name), p.default_value);
  return all;
}

}  // namespace gradflow
