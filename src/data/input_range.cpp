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
constexpr std::size_t kNamed = 5;  // features named in the warning
// Inputs are flagged when more than this share of their values lie far outside (a test set's
// rare values at the edge of the training range are no cause: Fashion-MNIST's border pixels,
// nearly always 0 in 600 training images, are sometimes not in the test images), or when a
// feature's values mostly do, over at least kSqueezeRows rows (a column in other units).
constexpr double kOutsideShare = 0.005;
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
  std::vector<std::size_t> outside(F), present(F);  // per feature: values far outside, values there
  std::vector<float> farthest(F);
  double largest = -std::numeric_limits<double>::infinity(), smallest = -largest;
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t j = 0; j < F; ++j) {
      const float v = x(i, j);
      if (std::isnan(v)) continue;
      ++present[j];
      largest = std::max(largest, static_cast<double>(v));
      smallest = std::min(smallest, static_cast<double>(v));
      const double w = width(min[j], max[j]), beyond = std::max(min[j] - w - v, v - max[j] - w);
      if (beyond <= 0) continue;
      if (outside[j]++ == 0 || std::fabs(v - (min[j] + max[j]) / 2) > std::fabs(farthest[j] - (min[j] + max[j]) / 2))
        farthest[j] = v;
    }
  std::size_t all_outside = 0, all_present = 0;
  bool systematic = false;  // a feature mostly outside, over enough rows to say so
  for (std::size_t j = 0; j < F; ++j) {
    all_outside += outside[j], all_present += present[j];
    systematic |= x.rows() >= kSqueezeRows && 2 * outside[j] > present[j];
  }
  if (all_outside > kOutsideShare * static_cast<double>(all_present) || systematic) {
    std::vector<std::size_t> order;
    for (std::size_t j = 0; j < F; ++j)
      if (outside[j]) order.push_back(j);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return outside[a] > outside[b]; });
    std::string list;
    for (std::size_t k = 0; k < std::min(order.size(), kNamed); ++k) {
      const std::size_t j = order[k];
      list += fmt::format("{}{} {:g} (trained on [{:g}, {:g}])", k ? ", " : "", feature_name(names, j), farthest[j],
                          min[j], max[j]);
    }
    return fmt::format("{} of {} values are far outside the training data's range, in {} of {} features: {}{} - {}",
                       all_outside, all_present, order.size(), F, list, order.size() > kNamed ? ", ..." : "",
                       cause(*this, largest));
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
