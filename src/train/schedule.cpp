#include "gradflow/schedule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

namespace gradflow {

Schedule::Schedule(double base_lr, const ScheduleOptions& o) : base_(base_lr), o_(o) {
  if (o.kind == ScheduleOptions::Kind::Step && o.step_size == 0)
    throw std::invalid_argument("step schedule: step size must be at least 1");
  if (o.kind == ScheduleOptions::Kind::Cosine && o.t_max == 0)
    throw std::invalid_argument("cosine schedule: T_max must be at least 1");
  if (o.kind == ScheduleOptions::Kind::Plateau && o.warmup)
    throw std::invalid_argument("a warm-up cannot be combined with the plateau schedule");
  p_.lr = base_lr;
}

double Schedule::lr(std::size_t epoch) const {
  using K = ScheduleOptions::Kind;
  if (o_.kind == K::Plateau) return p_.lr;
  if (epoch < o_.warmup) {
    const double s = o_.warmup_start;
    return base_ * (s + (1.0 - s) * static_cast<double>(epoch) / static_cast<double>(o_.warmup));
  }
  const double e = static_cast<double>(epoch - o_.warmup);
  switch (o_.kind) {
    case K::Constant: return base_;
    case K::Step: return base_ * std::pow(o_.gamma, std::floor(e / static_cast<double>(o_.step_size)));
    case K::Exponential: return base_ * std::pow(o_.gamma, e);
    case K::Cosine:
      return o_.eta_min + (base_ - o_.eta_min) * (1.0 + std::cos(M_PI * e / static_cast<double>(o_.t_max))) / 2.0;
    case K::Plateau: break;
  }
  return base_;
}

double Schedule::observe(double loss) {
  if (o_.kind != ScheduleOptions::Kind::Plateau) return p_.lr;
  // torch: is_better(a, best) = a < best·(1 − threshold) in 'min' mode with 'rel' threshold.
  if (loss < p_.best * (1.0 - o_.threshold)) {
    p_.best = loss;
    p_.bad_epochs = 0;
  } else {
    ++p_.bad_epochs;
  }
  if (p_.cooldown_left > 0) {
    --p_.cooldown_left;
    p_.bad_epochs = 0;
  }
  if (p_.bad_epochs > o_.patience) {
    const double next = std::max(p_.lr * o_.factor, o_.min_lr);
    if (p_.lr - next > 1e-8) p_.lr = next;  // torch ignores changes smaller than eps = 1e-8
    p_.cooldown_left = o_.cooldown;
    p_.bad_epochs = 0;
  }
  return p_.lr;
}

namespace {

using T = Hyperparameter::Type;
using K = ScheduleOptions::Kind;
constexpr ScheduleOptions kDefaults{};
constexpr Hyperparameter whole(std::string_view name, std::string_view torch_name, double d, double low,
                               std::string_view help) {
  return {name, T::Whole, d, low, 1e8, false, false, torch_name, help};
}
constexpr Hyperparameter real(std::string_view name, std::string_view torch_name, double d, std::string_view help,
                              double high = kUnbounded) {
  return {name, T::Real, d, 0, high, false, false, torch_name, help};
}
std::size_t count(const HyperparameterValues& v, const char* name) { return static_cast<std::size_t>(v.at(name)); }

constexpr std::array<Hyperparameter, 0> kNoParams{};
constexpr std::array kStepParams{whole("step_size", "step_size", 10, 1, "epochs between decays"),
                                 real("gamma", "gamma", kDefaults.gamma, "decay factor")};
constexpr std::array kExponentialParams{real("gamma", "gamma", kDefaults.gamma, "decay factor per epoch")};
// torch requires T_max; here it defaults to the run's epochs (after the warm-up).
constexpr std::array kCosineParams{whole("t_max", "", 0, 0, "epochs to reach ETA_MIN (0: the run's epochs)"),
                                   real("eta_min", "eta_min", kDefaults.eta_min, "the last rate")};
constexpr std::array kPlateauParams{
    whole("patience", "patience", static_cast<double>(kDefaults.patience), 0, "epochs without improvement"),
    real("factor", "factor", kDefaults.factor, "rate factor on a plateau", 1),
    real("threshold", "threshold", kDefaults.threshold, "relative improvement that counts"),
    whole("cooldown", "cooldown", static_cast<double>(kDefaults.cooldown), 0, "epochs of rest after a cut"),
    real("min_lr", "min_lr", kDefaults.min_lr, "the rate's floor")};

const std::array<ScheduleKind, 5> kSchedules = {{
    {"none", "", K::Constant, kNoParams, 0, [](ScheduleOptions&, const HyperparameterValues&, std::size_t) {}},
    {"step", "StepLR", K::Step, kStepParams, 1,
     [](ScheduleOptions& o, const HyperparameterValues& v, std::size_t) {
       o.step_size = count(v, "step_size"), o.gamma = v.at("gamma");
     }},
    {"exponential", "ExponentialLR", K::Exponential, kExponentialParams, 1,
     [](ScheduleOptions& o, const HyperparameterValues& v, std::size_t) { o.gamma = v.at("gamma"); }},
    {"cosine", "CosineAnnealingLR", K::Cosine, kCosineParams, 0,
     [](ScheduleOptions& o, const HyperparameterValues& v, std::size_t epochs) {
       o.t_max = v.at("t_max") > 0 ? count(v, "t_max") : std::max<std::size_t>(epochs, 1);
       o.eta_min = v.at("eta_min");
     }},
    {"plateau", "ReduceLROnPlateau", K::Plateau, kPlateauParams, 0,
     [](ScheduleOptions& o, const HyperparameterValues& v, std::size_t) {
       o.patience = count(v, "patience"), o.factor = v.at("factor"), o.threshold = v.at("threshold");
       o.cooldown = count(v, "cooldown"), o.min_lr = v.at("min_lr");
     }},
}};

std::vector<std::string> split_colon(const std::string& s) {
  std::vector<std::string> out;
  std::size_t a = 0;
  while (true) {
    const std::size_t b = s.find(':', a);
    out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) return out;
    a = b + 1;
  }
}

std::string form(const ScheduleKind& k) {
  std::string f(k.name), closing;
  for (std::size_t i = 0; i < k.params.size(); ++i) {
    std::string arg(k.params[i].name);
    for (char& c : arg) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (i >= k.required) f += "[", closing += "]";
    f += ":" + arg;
  }
  return f + closing;
}

double number(const std::string& text, const std::string& whole) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size())
    throw std::invalid_argument(fmt::format("schedule '{}': '{}' is not a number", detail::quote(whole), detail::quote(text)));
  return v;
}
}  // namespace

std::span<const ScheduleKind> schedule_kinds() { return kSchedules; }

std::string schedule_forms(std::string_view separator) {
  std::string forms;
  for (const ScheduleKind& k : kSchedules) forms += fmt::format("{}{}", forms.empty() ? "" : separator, form(k));
  return forms;
}

ScheduleOptions parse_schedule(const std::string& text, std::size_t epochs, std::size_t warmup) {
  const auto parts = split_colon(text);
  const std::string name = parts[0] == "constant" ? "none" : parts[0];
  const auto* k = std::find_if(kSchedules.begin(), kSchedules.end(), [&](const auto& s) { return s.name == name; });
  if (k == kSchedules.end())
    throw std::invalid_argument(fmt::format("unknown schedule '{}' (expected {})", detail::quote(text), schedule_forms(", ")));
  if (parts.size() - 1 < k->required)
    throw std::invalid_argument(fmt::format("schedule '{}' needs {}: {}", detail::quote(text),
                                            k->required == 1 ? "an argument" : "arguments", form(*k)));
  if (parts.size() - 1 > k->params.size())
    throw std::invalid_argument(fmt::format("schedule '{}': too many parts (expected {})", detail::quote(text), form(*k)));
  HyperparameterValues given;
  for (std::size_t i = 1; i < parts.size(); ++i) given[std::string(k->params[i - 1].name)] = number(parts[i], text);
  ScheduleOptions o;
  o.kind = k->kind;
  o.warmup = warmup;
  k->apply(o, resolve_hyperparameters(fmt::format("schedule {}", k->name), k->params, given),
           epochs > warmup ? epochs - warmup : 1);
  return o;
}

}  // namespace gradflow
