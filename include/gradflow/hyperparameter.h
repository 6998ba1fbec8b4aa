// Hyper-parameters as registered by the optimizers, schedules and losses: each names what it
// takes, with the default and the accepted range, once. The command line's options, --help,
// config.json's keys and their checks are generated from these entries (src/runs/recipe.cpp), and a
// test compares every default with the PyTorch constructor's (tests/test_registry.cpp).
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace gradflow {

// The bound of a value that has none above.
inline constexpr double kUnbounded = 1e300;

struct Hyperparameter {
  enum class Type { Real, Whole, Flag };
  std::string_view name;  // "weight_decay": the config key (the CLI option is --weight-decay)
  Type type = Type::Real;
  double default_value = 0;
  double low = 0, high = kUnbounded;  // accepted: low ≤ v ≤ high (a flag: 0 or 1)
  bool low_open = false;         // low < v instead
  bool high_open = false;        // v < high instead
  // The PyTorch constructor argument this is ("betas[1]" for an element of a tuple); "" where it
  // is gradflow's own or deliberately not PyTorch's default (the help says why).
  std::string_view torch_name;
  std::string_view help;
};

// Values by name; a flag is 0 or 1.
using HyperparameterValues = std::map<std::string, double, std::less<>>;

// The accepted range as words: "> 0", "in [0, 1)", "a whole number ≥ 1", "true or false".
std::string describe_range(const Hyperparameter& p);

// `given` checked against `params` and completed with their defaults. Throws
// std::invalid_argument naming `who` ("optimizer adam") for a name it does not take (listing the
// ones it does) or a value outside its range.
HyperparameterValues resolve_hyperparameters(std::string_view who, std::span<const Hyperparameter> params,
                                             const HyperparameterValues& given);

}  // namespace gradflow
