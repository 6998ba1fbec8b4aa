#include "gradflow/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/rng.h"

#include "core/parallel.h"

namespace gradflow {

void gather_rows(const Tensor& src, std::span<const std::uint32_t> indices, Tensor& dst) {
  dst.resize(indices.size(), src.cols());
  const std::size_t bytes = src.cols() * sizeof(float);
  // A training batch is gathered once per step from a data set far larger than the caches:
  // split over the threads, the cache misses overlap. (Random rows come from main memory:
  // several times the cost of an element-wise pass over cached data.) Within a thread, each
  // row would wait for memory on its own; asking for the rows kAhead places further on first
  // overlaps those waits (a step's gather, ReLU b64 on 2 threads: 11–12 µs → 8.5–9 µs).
  constexpr std::size_t kAhead = 4;
  const auto prefetch = [&](std::size_t i) {
    const char* p = reinterpret_cast<const char*>(src.row(indices[i]));
    for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
  };
  parallel::for_range(indices.size(), 4 * parallel::kElementCost * static_cast<double>(src.cols()), [&](parallel::Range r) {
    for (std::size_t i = r.begin; i < std::min(r.end, r.begin + kAhead); ++i) prefetch(i);
    for (std::size_t i = r.begin; i < r.end; ++i) {
      if (i + kAhead < r.end) prefetch(i + kAhead);
      std::memcpy(dst.row(i), src.row(indices[i]), bytes);
    }
  }, 1);
}

Dataset Dataset::subset(std::span<const std::uint32_t> indices) const {
  Dataset d;
  d.name = name;
  d.num_classes = num_classes;
  d.class_names = class_names;
  d.feature_names = feature_names;
  d.label_name = label_name;
  d.input_form = input_form;
  d.ignored_columns = ignored_columns;
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

std::pair<Dataset, Dataset> split_stratified(const Dataset& d, double fraction, std::uint64_t seed) {
  const std::size_t n = d.size();
  const auto total = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  if (total == 0 || total >= n)
    throw std::invalid_argument(fmt::format("holding out {} of {} samples leaves {}", fraction, n,
                                            total == 0 ? "none held out" : "none to train on"));
  const std::size_t groups = d.classification() ? d.num_classes : 1;
  std::vector<std::vector<std::uint32_t>> members(groups);
  for (std::size_t i = 0; i < n; ++i)
    members[d.classification() ? static_cast<std::size_t>(d.y[i]) : 0].push_back(static_cast<std::uint32_t>(i));
  // Each class's share, rounded down; what is left goes to the largest remainders (never a
  // class's last sample: every class keeps one to train on).
  std::vector<std::size_t> take(groups);
  std::vector<std::pair<double, std::size_t>> rest;
  std::size_t taken = 0;
  for (std::size_t c = 0; c < groups; ++c) {
    const double share = fraction * static_cast<double>(members[c].size());
    take[c] = static_cast<std::size_t>(share);
    taken += take[c];
    rest.push_back({share - static_cast<double>(take[c]), c});
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; taken < total && k < rest.size(); ++k)
    if (take[rest[k].second] + 1 < members[rest[k].second].size()) ++take[rest[k].second], ++taken;  // keep one to train on
  if (taken == 0)
    throw std::invalid_argument(fmt::format("holding out {} of {} samples leaves none held out (every class would "
                                            "lose its only samples)",
                                            fraction, n));
  Rng rng(seed);
  std::vector<bool> held(n, false);
  for (std::size_t c = 0; c < groups; ++c) {
    rng.shuffle(members[c]);
    for (std::size_t k = 0; k < take[c]; ++k) held[members[c][k]] = true;
  }
  std::vector<std::uint32_t> keep_idx, held_idx;
  for (std::size_t i = 0; i < n; ++i) (held[i] ? held_idx : keep_idx).push_back(static_cast<std::uint32_t>(i));
  return {d.subset(keep_idx), d.subset(held_idx)};
}

}  // namespace gradflow
