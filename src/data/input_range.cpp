#include "gradflow/data/input_range.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow {

InputRange InputRange::fit(const Tensor& x, std::string form) {
  InputRange r;
  r.form = std::move(form);
  const std::size_t F = x.cols();
  r.min.assign(F, std::numeric_limits<float>::infinity());
  r.max.assign(F, -std::numeric_limits<float>::infinity());
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const float* row = x.row(i);
    for (std::size_t j = 0; j < F; ++j) {
      if (std::isnan(row[j])) continue;
      r.min[j] = std::min(r.min[j], row[j]);
      r.max[j] = std::max(r.max[j], row[j]);
    }
  }
  for (std::size_t j = 0; j < F; ++j)
    if (r.min[j] > r.max[j]) r.min[j] = r.max[j] = 0.0f;
  return r;
}

namespace {
constexpr std::size_t kNamed = 5;            // features named in the warning
// Inputs spanning less than this share of the training values' span (all features together)
// are squeezed — judged on at least kSqueezeRows rows or kSqueezeFeatures features, fewer
// samples of the spread say nothing.
constexpr double kSqueeze = 1.0 / 50.0;
constexpr std::size_t kSqueezeRows = 32, kSqueezeFeatures = 4;

double width(float lo, float hi) { return hi > lo ? static_cast<double>(hi) - lo : 1.0; }

std::string feature_name(const std::vector<std::string>& names, std::size_t j) {
  return j < names.size() ? fmt::format("'{}'", names[j]) : fmt::format("feature {}", j);
}

// The likely cause of inputs beyond the range: 0–255 pixels into a model trained on [0, 1].
std::string cause(const InputRange& r, double largest) {
  const bool unit = std::all_of(r.min.begin(), r.min.end(), [](float v) { return v >= 0; }) &&
                    std::all_of(r.max.begin(), r.max.end(), [](float v) { return v <= 1; });
  if (unit && largest > 1 && largest <= 255)
    return fmt::format("this looks like raw 0-255 pixels, and the model was trained on inputs in [0, 1]{}: divide "
                       "the inputs by 255",
                       r.form.empty() ? "" : fmt::format(" ({})", r.form));
  return fmt::format("are they in the units, scale and column order the model was trained on{}?",
                     r.form.empty() ? "" : fmt::format(" ({})", r.form));
}
}  // namespace

std::string InputRange::check(const Tensor& x, const std::vector<std::string>& names) const {
  if (empty()) return "";
  if (x.cols() != min.size())
    throw std::invalid_argument(
        fmt::format("input range check: data has {} features, the range {}", x.cols(), min.size()));
  const std::size_t F = x.cols();
  std::vector<float> lo(F, std::numeric_limits<float>::infinity()), hi(F, -std::numeric_limits<float>::infinity());
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t j = 0; j < F; ++j)
      if (!std::isnan(x(i, j))) lo[j] = std::min(lo[j], x(i, j)), hi[j] = std::max(hi[j], x(i, j));
  std::vector<std::size_t> outside;
  double largest = -std::numeric_limits<double>::infinity(), smallest = -largest;
  for (std::size_t j = 0; j < F; ++j) {
    if (lo[j] > hi[j]) continue;  // no value in this feature
    const double w = width(min[j], max[j]);
    largest = std::max(largest, static_cast<double>(hi[j]));
    smallest = std::min(smallest, static_cast<double>(lo[j]));
    if (lo[j] < min[j] - w || hi[j] > max[j] + w) outside.push_back(j);
  }
  if (!outside.empty()) {
    std::string list;
    for (std::size_t k = 0; k < std::min(outside.size(), kNamed); ++k) {
      const std::size_t j = outside[k];
      const float far = lo[j] < min[j] - width(min[j], max[j]) ? lo[j] : hi[j];
      list += fmt::format("{}{} {:g} (trained on [{:g}, {:g}])", k ? ", " : "", feature_name(names, j), far, min[j],
                          max[j]);
    }
    return fmt::format("{} of {} features are far outside the training data's range: {}{} - {}", outside.size(), F,
                       list, outside.size() > kNamed ? ", ..." : "", cause(*this, largest));
  }
  const double trained = static_cast<double>(*std::max_element(max.begin(), max.end())) -
                         *std::min_element(min.begin(), min.end());
  if ((x.rows() >= kSqueezeRows || F >= kSqueezeFeatures) && largest >= smallest && trained > 0 &&
      largest - smallest < kSqueeze * trained)
    return fmt::format("the inputs span [{:g}, {:g}], less than 1/50 of the training data's [{:g}, {:g}] - scaled "
                       "down (e.g. divided by 255) where the model was trained on unscaled inputs{}?",
                       smallest, largest, *std::min_element(min.begin(), min.end()),
                       *std::max_element(max.begin(), max.end()), form.empty() ? "" : fmt::format(" ({})", form));
  return "";
}

}  // namespace gradflow
