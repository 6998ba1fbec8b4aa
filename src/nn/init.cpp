#include "gradflow/init.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

double init_variance(Init init, std::size_t fan_in, std::size_t fan_out) {
  const double avg = 0.5 * static_cast<double>(fan_in + fan_out);
  const double in = static_cast<double>(fan_in);
  switch (init) {
    case Init::Normal: return 1.0;
    case Init::GlorotNormal:
    case Init::GlorotUniform: return 1.0 / avg;
    case Init::LeCunNormal:
    case Init::LeCunUniform: return 1.0 / in;
    case Init::HeNormal:
    case Init::HeUniform: return 2.0 / in;
    case Init::Default: break;
  }
  throw std::logic_error("init_variance: Init::Default must be resolved first");
}

void init_weights(Tensor& w, Init init, Rng& rng) {
  const double var = init_variance(init, w.cols(), w.rows());
  const bool uniform =
      init == Init::GlorotUniform || init == Init::LeCunUniform || init == Init::HeUniform;
  if (uniform) {
    const float r = static_cast<float>(std::sqrt(3.0 * var));
    for (float& x : w.span()) x = rng.uniform(-r, r);
  } else {
    const float sd = static_cast<float>(std::sqrt(var));
    for (float& x : w.span()) x = sd * rng.normal();
  }
}

namespace {
struct InitName {
  Init init;
  std::string_view name;
};
constexpr InitName kNames[] = {
    {Init::Default, "default"},        {Init::Normal, "normal"},
    {Init::GlorotNormal, "glorot_normal"}, {Init::GlorotUniform, "glorot_uniform"},
    {Init::LeCunNormal, "lecun_normal"},   {Init::LeCunUniform, "lecun_uniform"},
    {Init::HeNormal, "he_normal"},         {Init::HeUniform, "he_uniform"},
    // aliases: PyTorch's names
    {Init::GlorotNormal, "xavier_normal"}, {Init::GlorotUniform, "xavier_uniform"},
    {Init::HeNormal, "kaiming_normal"},    {Init::HeUniform, "kaiming_uniform"},
};
}  // namespace

std::string_view to_string(Init init) {
  for (const auto& n : kNames)
    if (n.init == init) return n.name;
  return "?";
}

Init parse_init(std::string_view name) {
  for (const auto& n : kNames)
    if (n.name == name) return n.init;
  throw std::invalid_argument(fmt::format(
      "unknown initializer '{}' (expected normal, glorot_normal, glorot_uniform, lecun_normal, "
      "lecun_uniform, he_normal, he_uniform or default)",
      name));
}

}  // namespace gradflow
