#include "gradflow/schedule.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

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
template <class T>
T number(const std::string& text, const std::string& whole) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !(v >= T{}))
    throw std::invalid_argument(fmt::format("schedule '{}': '{}' is not a non-negative number", whole, text));
  return v;
}
}  // namespace

ScheduleOptions parse_schedule(const std::string& text, std::size_t epochs, std::size_t warmup) {
  using K = ScheduleOptions::Kind;
  ScheduleOptions o;
  o.warmup = warmup;
  const auto parts = split_colon(text);
  const std::string& kind = parts[0];
  auto arg = [&](std::size_t i) -> const std::string* { return i < parts.size() ? &parts[i] : nullptr; };
  std::size_t max_args = 0;
  if (kind == "none" || kind == "constant") {
    o.kind = K::Constant;
  } else if (kind == "step") {
    o.kind = K::Step;
    if (!arg(1)) throw std::invalid_argument("schedule step needs a step size: step:STEP_SIZE[:GAMMA]");
    o.step_size = number<std::size_t>(*arg(1), text);
    if (arg(2)) o.gamma = number<double>(*arg(2), text);
    max_args = 2;
  } else if (kind == "exponential") {
    o.kind = K::Exponential;
    if (!arg(1)) throw std::invalid_argument("schedule exponential needs a factor: exponential:GAMMA");
    o.gamma = number<double>(*arg(1), text);
    max_args = 1;
  } else if (kind == "cosine") {
    o.kind = K::Cosine;
    o.t_max = arg(1) ? number<std::size_t>(*arg(1), text) : (epochs > warmup ? epochs - warmup : 1);
    if (arg(2)) o.eta_min = number<double>(*arg(2), text);
    max_args = 2;
  } else if (kind == "plateau") {
    o.kind = K::Plateau;
    if (arg(1)) o.patience = number<std::size_t>(*arg(1), text);
    if (arg(2)) o.factor = number<double>(*arg(2), text);
    max_args = 2;
  } else {
    throw std::invalid_argument(fmt::format(
        "unknown schedule '{}' (expected none, step:STEP_SIZE[:GAMMA], exponential:GAMMA, cosine[:T_MAX[:ETA_MIN]] "
        "or plateau[:PATIENCE[:FACTOR]])",
        text));
  }
  if (parts.size() > max_args + 1) throw std::invalid_argument(fmt::format("schedule '{}': too many parts", text));
  return o;
}

}  // namespace gradflow
