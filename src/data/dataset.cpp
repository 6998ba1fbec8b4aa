#include "gradflow/data/dataset.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "../parallel.h"

namespace gradflow {

void gather_rows(const Tensor& src, std::span<const std::uint32_t> indices, Tensor& dst) {
  dst.resize(indices.size(), src.cols());
  const std::size_t bytes = src.cols() * sizeof(float);
  // A training batch is gathered once per step from a data set far larger than the caches:
  // split over the threads, the cache misses overlap. (Random rows come from main memory:
  // several times the cost of an element-wise pass over cached data.)
  parallel::for_range(indices.size(), 4 * parallel::kElementCost * static_cast<double>(src.cols()), [&](parallel::Range r) {
    for (std::size_t i = r.begin; i < r.end; ++i) std::memcpy(dst.row(i), src.row(indices[i]), bytes);
  }, 1);
}

Dataset Dataset::subset(std::span<const std::uint32_t> indices) const {
  Dataset d;
  d.name = name;
  d.num_classes = num_classes;
  d.class_names = class_names;
  d.feature_names = feature_names;
  d.label_name = label_name;
  gather_rows(x, indices, d.x);
  gather_rows(y, indices, d.y);
  return d;
}

void Dataset::validate(const std::string& what) const {
  if (x.rows() != y.rows())
    throw std::invalid_argument(
        fmt::format("{}: {} samples but {} targets", what, x.rows(), y.rows()));
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw std::invalid_argument(fmt::format("{}: sample {}, feature {} is {} (expected a finite number)",
                                              what, i / x.cols(), i % x.cols(), x[i]));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const float v = y[i];
    if (!std::isfinite(v))
      throw std::invalid_argument(fmt::format("{}: target of sample {} is {}", what, i / y.cols(), v));
    if (num_classes > 0 && (v < 0 || v >= static_cast<float>(num_classes) || v != std::floor(v)))
      throw std::invalid_argument(fmt::format(
          "{}: label {} of sample {} is out of range (expected 0..{})", what, v, i, num_classes - 1));
  }
}

}  // namespace gradflow
