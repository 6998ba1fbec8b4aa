#include "gradflow/data/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace gradflow::csv {

namespace {

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    std::string_view f = line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
    while (!f.empty() && (f.back() == ' ' || f.back() == '\t' || f.back() == '\r')) f.remove_suffix(1);
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    out.push_back(f);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool parse_float(std::string_view s, float& v) {
  if (s.empty()) return false;
  if (s.front() == '+') {
    s.remove_prefix(1);
    if (s.empty() || s.front() == '-' || s.front() == '+') return false;  // "+-1" is no number
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Dataset read(const std::string& path, const Options& o) {
  if (o.has_labels && !o.regression && o.num_classes == 0 && o.max_classes == 0)
    throw std::invalid_argument("CSV classes: max_classes must be at least 1");
  std::ifstream in(path);
  if (!std::filesystem::exists(path) || !in)
    throw std::runtime_error(fmt::format("cannot open '{}': no such file", path));
  std::vector<std::string> header;
  std::vector<float> xs, ys;
  std::size_t fields = 0, label = 0, line_no = 0, rows = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    // A UTF-8 byte-order mark (spreadsheets write one) is not part of the first field.
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    const auto f = split(line);
    if (fields == 0) {
      fields = f.size();
      float v;
      bool is_header = false;
      for (auto s : f) is_header |= !parse_float(s, v);
      if (is_header) header.assign(f.begin(), f.end());
      if (o.has_labels) {
        if (fields < 2)
          throw std::runtime_error(fmt::format("{}:{}: {} column(s); expected features and a label", path, line_no, fields));
        const std::string& c = o.label_column;
        long idx = 0;
        auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), idx);
        if (ec == std::errc() && p == c.data() + c.size()) {
          if (idx < 0) idx += static_cast<long>(fields);
          if (idx < 0 || idx >= static_cast<long>(fields))
            throw std::runtime_error(fmt::format("{}: label column {} does not exist (the file has {} columns)",
                                                 path, o.label_column, fields));
          label = static_cast<std::size_t>(idx);
        } else {
          auto it = std::find(header.begin(), header.end(), c);
          if (it == header.end())
            throw std::runtime_error(fmt::format("{}: no column named '{}' in the header{}", path, c,
                                                 header.empty() ? " (the file has no header)" : ""));
          label = static_cast<std::size_t>(it - header.begin());
        }
      }
      if (is_header) continue;
    }
    if (f.size() != fields)
      throw std::runtime_error(fmt::format("{}:{}: row has {} fields, expected {}{}", path, line_no,
                                           f.size(), fields, header.empty() ? " (as in line 1)" : " (as in the header)"));
    for (std::size_t j = 0; j < fields; ++j) {
      float v;
      if (!parse_float(f[j], v) || !std::isfinite(v))
        throw std::runtime_error(fmt::format("{}:{}: column {}{}: '{}' is not a finite number", path, line_no,
                                             j + 1, header.empty() ? "" : " ('" + header[j] + "')", f[j]));
      if (o.has_labels && j == label) {
        const std::size_t limit = o.num_classes ? o.num_classes : o.max_classes;
        if (!o.regression && (v < 0 || v != std::floor(v) || v >= static_cast<float>(limit)))
          throw std::runtime_error(fmt::format(
              "{}:{}: label '{}' out of range (expected a class index 0..{}){}", path, line_no, f[j], limit - 1,
              o.num_classes ? "" : fmt::format("; labels are class indices below {} (--max-classes raises it) — "
                                               "for a numeric target, train a regression (--loss mse)",
                                               o.max_classes)));
        ys.push_back(v);
      } else {
        xs.push_back(v);
      }
    }
    ++rows;
  }
  if (rows == 0) throw std::runtime_error(fmt::format("{}: no data rows", path));
  Dataset d;
  d.name = path;
  const std::size_t nf = o.has_labels ? fields - 1 : fields;
  d.x.resize(rows, nf);
  std::copy(xs.begin(), xs.end(), d.x.data());
  d.y.resize(rows, 1);
  if (o.has_labels) std::copy(ys.begin(), ys.end(), d.y.data()); else d.y.zero();
  if (o.has_labels && !o.regression) {
    float mx = 0;
    for (float v : ys) mx = std::max(mx, v);
    d.num_classes = o.num_classes ? o.num_classes : static_cast<std::size_t>(mx) + 1;
  }
  return d;
}

}  // namespace gradflow::csv
