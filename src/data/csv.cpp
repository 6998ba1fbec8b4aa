#include "gradflow/data/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

namespace gradflow::csv {

namespace {

// A field as read: its text (quotes removed, "" made "), the byte column where it starts on its
// record's first line (1-based; for messages), and whether it was quoted.
struct Field {
  std::string text;
  std::size_t column = 1;
  bool quoted = false;
};
using Fields = std::vector<Field>;

// The field separator, from the first record, as pandas' sniffer decides it: the most frequent
// of , ; tab and | outside quotes (a comma when none is there, or on a tie).
char sniff_delimiter(std::string_view record) {
  std::size_t counts[4] = {0, 0, 0, 0};
  constexpr char kSeparators[4] = {',', ';', '\t', '|'};
  bool quoted = false;
  for (const char c : record) {
    if (c == '"') quoted = !quoted;
    for (int k = 0; k < 4 && !quoted; ++k) counts[k] += c == kSeparators[k];
  }
  char best = ',';
  std::size_t most = counts[0];
  for (int k = 1; k < 4; ++k)
    if (counts[k] > most) best = kSeparators[k], most = counts[k];
  return best;
}

std::string delimiter_name(char d) { return d == '\t' ? "tabs" : fmt::format("'{}'", d); }

// Whether a record ends inside a quoted field (a newline in quotes: the record goes on). Before
// the separator is known (delimiter 0: the first record), any of the candidates ends a field.
bool open_quote(std::string_view record, char delimiter) {
  bool quoted = false, field_start = true;
  for (std::size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted) {
      if (c == '"') quoted = i + 1 < record.size() && record[i + 1] == '"' ? (++i, true) : false;
      continue;
    }
    if (c == '"' && field_start) quoted = true;
    const bool separator = delimiter ? c == delimiter : c == ',' || c == ';' || c == '\t' || c == '|';
    field_start = separator || (field_start && c == ' ');
  }
  return quoted;
}

// The next record of `in`: a line, and the lines after it while a quoted field is open. Blank
// lines between records are skipped; false at the end. line_no: the record's first line.
bool next_record(std::istream& in, std::string& record, std::size_t& line_no, std::size_t& lines, char& delimiter) {
  record.clear();
  for (std::string line; std::getline(in, line);) {
    ++lines;
    if (lines == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // a byte-order mark (spreadsheets)
    if (record.empty()) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // a blank line
      line_no = lines;
      record = std::move(line);
    } else {
      record += '\n';
      record += line;
    }
    if (!open_quote(record, delimiter)) break;
  }
  if (record.empty()) return false;
  if (delimiter == 0) delimiter = sniff_delimiter(record);  // from the whole first record
  return true;  // (an unclosed quote at the end: split() names where it opened)
}

// RFC 4180 fields of one record: a field that starts (after spaces) with '"' runs to the next
// lone '"', with "" for a quote and any separator or newline inside; spaces around a field and a
// trailing \r are dropped. Python's csv module splits the same (tests/python/test_csv.py's corpus).
Fields split(std::string_view record, char delimiter, const std::string& path, std::size_t line_no) {
  Fields out;
  std::size_t i = 0;
  while (true) {
    while (i < record.size() && (record[i] == ' ' || (record[i] == '\t' && delimiter != '\t'))) ++i;
    Field f;
    f.column = i + 1;
    if (i < record.size() && record[i] == '"') {
      f.quoted = true;
      const std::size_t open = i++;
      for (;; ++i) {
        if (i >= record.size())
          throw std::runtime_error(fmt::format("{}:{}:{}: the quoted field opened here is never closed", path, line_no,
                                               open + 1));
        if (record[i] != '"') {
          f.text += record[i];
        } else if (i + 1 < record.size() && record[i + 1] == '"') {
          f.text += '"', ++i;
        } else {
          ++i;
          break;
        }
      }
      while (i < record.size() && (record[i] == ' ' || record[i] == '\r' || (record[i] == '\t' && delimiter != '\t')))
        ++i;
      if (i < record.size() && record[i] != delimiter)
        throw std::runtime_error(fmt::format("{}:{}:{}: '{}' after the quoted field that opens at column {} (expected "
                                             "{} or the end of the line; a quote inside a field is written \"\")",
                                             path, line_no, i + 1, detail::printable(record.substr(i, 1)), open + 1,
                                             delimiter_name(delimiter)));
    } else {
      const std::size_t end = std::min(record.find(delimiter, i), record.size());
      std::string_view v = record.substr(i, end - i);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || (v.back() == '\t' && delimiter != '\t')))
        v.remove_suffix(1);
      f.text = v;
      i = end;
    }
    out.push_back(std::move(f));
    if (i >= record.size()) break;
    ++i;  // the delimiter
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

bool is_number(std::string_view s) {
  float v;
  return !is_missing(s) && parse_float(s, v);
}

std::string join(const std::vector<std::string>& names, std::size_t max = 12) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > max) s += fmt::format(", … ({} in all)", names.size());
  return s;
}

// The position of the first byte that is not part of valid UTF-8 in s, or npos: names and
// labels go into the model's metadata (JSON), which holds text only.
std::size_t invalid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2)) return i;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    const auto c1 = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
    if ((n == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) ||  // overlong, surrogate
        (n == 4 && ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90))))
      return i;
    i += n;
  }
  return std::string_view::npos;
}

// Text that becomes a name (a header field, a text label) must be UTF-8; the field is at
// `column` (1-based, bytes) of line `line_no`.
void check_text(std::string_view field, const std::string& path, std::size_t line_no, std::size_t column,
                const char* what) {
  const std::size_t bad = invalid_utf8(field);
  if (bad != std::string_view::npos)
    throw std::runtime_error(fmt::format("{}:{}:{}: {} is not UTF-8 text (byte 0x{:02X}); save the file as UTF-8",
                                         path, line_no, column + bad, what,
                                         static_cast<unsigned char>(field[bad])));
}

// What each column of the file is.
constexpr long kLabel = -1, kIgnored = -2;

}  // namespace

std::vector<std::string> first_line(const std::string& path) {
  std::ifstream in(path);
  std::string record;
  std::size_t line_no = 0, lines = 0;
  char delimiter = 0;
  if (!next_record(in, record, line_no, lines, delimiter)) return {};
  std::vector<std::string> names;
  try {
    for (Field& f : split(record, delimiter, path, line_no)) names.push_back(std::move(f.text));
  } catch (const std::runtime_error&) {  // read() says what is wrong with the file
  }
  return names;
}

bool is_missing(std::string_view f) {
  static constexpr std::string_view kMissing[] = {"",     "NA",   "N/A",  "n/a",  "NaN", "nan", "-nan",
                                                  "-NaN", "null", "NULL", "None", "?",   "#N/A", "<NA>"};
  return std::find(std::begin(kMissing), std::end(kMissing), f) != std::end(kMissing);
}

namespace {

// What the first line says about the file: its header (if it is one), and per column its role.
struct Layout {
  char delimiter = ',';
  std::vector<std::string> header;
  std::vector<long> role;  // per column: feature index, kLabel or kIgnored
  std::size_t fields = 0, features = 0;
  std::string column(std::size_t j) const {
    return header.empty() ? fmt::format("column {}", j + 1) : fmt::format("column {} ('{}')", j + 1, header[j]);
  }
};

// The label column given by index (negative: from the end), or -1 with by_name set.
long label_by_index(const std::string& path, const Options& o, const Layout& l, std::size_t line_no,
                    bool& by_name) {
  by_name = false;
  if (!o.has_labels) return -1;
  const std::size_t fields = l.fields;
  if (fields < 2)
    throw std::runtime_error(fmt::format("{}:{}: {} column(s) separated by {} (of , ; tabs and |, the most frequent "
                                         "on the first line); expected features and a label",
                                         path, line_no, fields, delimiter_name(l.delimiter)));
  const std::string& c = o.label_column;
  long label = -1;
  auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), label);
  by_name = ec != std::errc() || p != c.data() + c.size();
  if (by_name) return -1;
  if (label < 0) label += static_cast<long>(fields);
  if (label < 0 || label >= static_cast<long>(fields))
    throw std::runtime_error(
        fmt::format("{}: label column {} does not exist (the file has {} columns)", path, o.label_column, fields));
  return label;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Whether header column j is left out (csv.h: an unnamed first column, drop_columns, not among
// feature_columns, ignore_columns).
bool left_out(const Layout& l, std::size_t j, const Options& o) {
  if (l.header.empty()) return false;
  const std::string& name = l.header[j];
  return (j == 0 && name.empty()) || contains(o.drop_columns, name) || contains(o.ignore_columns, name) ||
         (!o.feature_columns.empty() && !contains(o.feature_columns, name));
}

// The columns named in drop_columns and feature_columns are in the header.
void check_selected(const Layout& l, const std::string& path, const Options& o) {
  for (const auto* list : {&o.drop_columns, &o.feature_columns})
    for (const std::string& name : *list)
      if (!contains(l.header, name))
        throw std::runtime_error(fmt::format("{}: no column named '{}' {}{}", path, detail::quote(name),
                                             list == &o.drop_columns ? "to drop" : "to take as a feature",
                                             l.header.empty() ? " (the file has no header)" : ""));
}

// Each column's role; with the model's feature names, header columns are matched to them by name.
void assign_roles(Layout& l, long label, const std::string& path, const Options& o) {
  check_selected(l, path, o);
  l.role.assign(l.fields, 0);
  std::vector<std::string> unknown;
  std::vector<bool> found(o.feature_names.size(), false);
  const bool by_feature_name = !l.header.empty() && !o.feature_names.empty();
  for (std::size_t j = 0; j < l.fields; ++j) {
    if (o.has_labels && static_cast<long>(j) == label) {
      l.role[j] = kLabel;
    } else if (left_out(l, j, o)) {
      l.role[j] = kIgnored;
    } else if (by_feature_name) {
      const auto it = std::find(o.feature_names.begin(), o.feature_names.end(), l.header[j]);
      if (it == o.feature_names.end()) {
        unknown.push_back(l.header[j]);
        continue;
      }
      l.role[j] = it - o.feature_names.begin();
      found[static_cast<std::size_t>(l.role[j])] = true;
    } else {
      l.role[j] = static_cast<long>(l.features);
    }
    if (l.role[j] >= 0) ++l.features;
  }
  if (l.features == 0 && unknown.empty())
    throw std::runtime_error(fmt::format("{}: no feature column is left (the header: {})", path, join(l.header)));
  if (!by_feature_name) return;
  std::vector<std::string> missing;
  for (std::size_t k = 0; k < found.size(); ++k)
    if (!found[k]) missing.push_back(o.feature_names[k]);
  if (!missing.empty() || !unknown.empty())
    throw std::runtime_error(fmt::format(
        "{}: the header does not match the model's {} features:{}{} (columns are matched by name)", path,
        o.feature_names.size(), missing.empty() ? "" : " missing " + join(missing),
        unknown.empty() ? "" : fmt::format("{}not a feature: {}", missing.empty() ? " " : "; ", join(unknown))));
}

// From the first non-blank line: a header when a field that must be a number is not one.
Layout read_layout(const Fields& f, const std::string& path, const Options& o, std::size_t line_no, char delimiter) {
  Layout l;
  l.delimiter = delimiter;
  l.fields = f.size();
  // The label column by index is known before the header question; by name it needs one.
  bool by_name = false;
  long label = label_by_index(path, o, l, line_no, by_name);
  bool is_header = false;
  for (std::size_t j = 0; j < l.fields; ++j)
    is_header |= (by_name || static_cast<long>(j) != label || !o.has_labels) && !is_number(f[j].text) &&
                 !is_missing(f[j].text);
  if (is_header)
    for (const Field& name : f) l.header.push_back(name.text);
  if (by_name) {
    auto it = std::find(l.header.begin(), l.header.end(), o.label_column);
    if (it == l.header.end())
      throw std::runtime_error(fmt::format("{}: no column named '{}' in the header{}", path, detail::quote(o.label_column),
                                           l.header.empty() ? " (the file has no header)" : ""));
    label = it - l.header.begin();
  }
  assign_roles(l, label, path, o);
  return l;
}

// The rows as read: features (NaN where missing and allowed), labels as written.
struct Rows {
  std::vector<float> xs;
  std::vector<std::string> labels;
  std::vector<std::size_t> label_line;
  std::size_t count = 0;
};

void read_row(const Fields& fields, const Layout& l, const std::string& path, const Options& o, std::size_t line_no,
              Rows& rows) {
  const auto f = [&](std::size_t j) -> const std::string& { return fields[j].text; };
  if (fields.size() != l.fields)
    throw std::runtime_error(fmt::format("{}:{}: row has {} fields, expected {}{}", path, line_no, fields.size(), l.fields,
                                         l.header.empty() ? " (as in line 1)" : " (as in the header)"));
  rows.xs.resize(rows.xs.size() + l.features);
  float* row = rows.xs.data() + rows.xs.size() - l.features;
  for (std::size_t j = 0; j < l.fields; ++j) {
    if (l.role[j] == kIgnored) continue;
    if (l.role[j] == kLabel) {
      if (is_missing(f(j)))
        throw std::runtime_error(fmt::format("{}:{}: {}: the label is missing ('{}')", path, line_no, l.column(j), detail::quote(f(j))));
      rows.labels.push_back(f(j));
      rows.label_line.push_back(line_no);
      continue;
    }
    float v;
    if (is_missing(f(j))) {
      if (!o.allow_missing)
        throw std::runtime_error(fmt::format("{}:{}: {}: missing value ('{}'); fill it in, or {}", path, line_no,
                                             l.column(j), detail::quote(f(j)), o.hints.impute));
      v = std::numeric_limits<float>::quiet_NaN();
    } else if (!parse_float(f(j), v) || !std::isfinite(v)) {
      throw std::runtime_error(fmt::format("{}:{}: {}: '{}' is not a finite number", path, line_no, l.column(j), detail::quote(f(j))));
    }
    row[l.role[j]] = v;
  }
  ++rows.count;
}

void regression_targets(Dataset& d, const Rows& rows, const std::string& path) {
  float* y = d.y.data();
  for (std::size_t i = 0; i < rows.count; ++i)
    if (!parse_float(rows.labels[i], y[i]) || !std::isfinite(y[i]))
      throw std::runtime_error(fmt::format("{}:{}: the target '{}' is not a finite number (a regression target is "
                                           "numeric; for class names, train a classification)",
                                           path, rows.label_line[i], detail::quote(rows.labels[i])));
}

// Labels by the given class names, else numbers as class indices below `limit`.
void indexed_classes(Dataset& d, const Rows& rows, const std::string& path, const Options& o, std::size_t limit) {
  std::map<std::string, std::size_t, std::less<>> by_name;
  for (std::size_t c = 0; c < o.class_names.size(); ++c) by_name.emplace(o.class_names[c], c);
  float mx = 0;
  for (std::size_t i = 0; i < rows.count; ++i) {
    float v = -1;
    const std::string& label = rows.labels[i];
    auto it = by_name.find(label);
    if (it == by_name.end() && parse_float(label, v) && v == std::floor(v) && std::fabs(v) < 1e15f)
      it = by_name.find(std::to_string(static_cast<long long>(v)));  // "1.0" is class "1"
    if (it != by_name.end()) {
      v = static_cast<float>(it->second);
    } else if (!parse_float(label, v) || v < 0 || v != std::floor(v) || v >= static_cast<float>(limit)) {
      if (!is_number(label))
        throw std::runtime_error(fmt::format("{}:{}: label '{}' is not one of the {} classes ({})", path,
                                             rows.label_line[i], detail::quote(label), o.class_names.size(), join(o.class_names)));
      const bool fraction = parse_float(label, v) && v >= 0 && v != std::floor(v);
      throw std::runtime_error(fmt::format(
          "{}:{}: label '{}' out of range (expected a class index 0..{}){}", path, rows.label_line[i], detail::quote(label),
          limit - 1,
          o.num_classes ? ""
                        : fmt::format("; labels are class indices below {} ({}) — {} is a numeric target: {}",
                                      o.max_classes, o.hints.max_classes,
                                      fraction ? "a label column with fractions" : "a label column of large numbers",
                                      o.hints.regression)));
    }
    d.y[i] = v;
    mx = std::max(mx, v);
  }
  d.num_classes = o.num_classes ? o.num_classes : std::max(o.class_names.size(), static_cast<std::size_t>(mx) + 1);
  d.class_names = o.class_names;
}

// Whole numbers that are not the class indices 0..K−1 (UCI's 1, 2, 3; −1 and 1): each distinct
// value a class, in increasing order, named by its value (scikit-learn's LabelEncoder). Returns
// false, touching nothing, for labels that are 0..K−1 or not all whole numbers in (−limit, limit):
// those are indices, or a numeric target that indexed_classes reports.
bool encoded_classes(Dataset& d, const Rows& rows, std::size_t limit) {
  std::map<long long, std::size_t> index;
  std::vector<long long> values(rows.count);
  for (std::size_t i = 0; i < rows.count; ++i) {
    float v = 0;
    if (!parse_float(rows.labels[i], v) || v != std::floor(v) || !(std::fabs(v) < static_cast<float>(limit)))
      return false;
    values[i] = static_cast<long long>(v);
    index.emplace(values[i], 0);
  }
  if (index.begin()->first == 0 && index.rbegin()->first == static_cast<long long>(index.size()) - 1) return false;
  for (auto& [value, c] : index) {
    c = d.class_names.size();
    d.class_names.push_back(std::to_string(value));
  }
  for (std::size_t i = 0; i < rows.count; ++i) d.y[i] = static_cast<float>(index.at(values[i]));
  d.num_classes = d.class_names.size();
  return true;
}

// Text labels: each distinct text a class, in sorted order (scikit-learn's LabelEncoder).
void text_classes(Dataset& d, const Rows& rows, const std::string& path, const Options& o, std::size_t limit) {
  std::map<std::string, std::size_t, std::less<>> index;
  for (const auto& l : rows.labels) index.emplace(l, 0);
  if (index.size() > limit)
    throw std::runtime_error(fmt::format("{}: the label column has {} distinct values, more than {} classes ({})", path,
                                         index.size(), limit, o.hints.max_classes));
  for (auto& [name, c] : index) {
    c = d.class_names.size();
    d.class_names.push_back(name);
  }
  for (std::size_t i = 0; i < rows.count; ++i) d.y[i] = static_cast<float>(index.find(rows.labels[i])->second);
  d.num_classes = d.class_names.size();
}

Dataset to_dataset(const std::string& path, const Layout& l, const Rows& rows, const Options& o) {
  if (rows.count == 0) throw std::runtime_error(fmt::format("{}: no data rows", path));
  Dataset d;
  d.name = path;
  d.x.resize(rows.count, l.features);
  std::copy(rows.xs.begin(), rows.xs.end(), d.x.data());
  d.y.resize(rows.count, 1);
  d.y.zero();
  if (!l.header.empty()) {
    d.feature_names.resize(l.features);
    for (std::size_t j = 0; j < l.fields; ++j)
      if (l.role[j] >= 0) d.feature_names[static_cast<std::size_t>(l.role[j])] = l.header[j];
      else if (l.role[j] == kLabel) d.label_name = l.header[j];
      else if (!contains(o.ignore_columns, l.header[j])) d.ignored_columns.push_back(l.header[j]);
  }
  if (!o.has_labels) return d;
  if (o.regression) {
    regression_targets(d, rows, path);
    return d;
  }
  // Classes: by the given names, else numbers as indices, else text as names.
  const bool numeric = std::all_of(rows.labels.begin(), rows.labels.end(), [](const std::string& s) { return is_number(s); });
  const std::size_t limit = o.num_classes ? o.num_classes : o.max_classes;
  if (numeric && o.encode_numeric_labels && o.class_names.empty() && o.num_classes == 0 &&
      encoded_classes(d, rows, limit))
    return d;
  if (!o.class_names.empty() || numeric) indexed_classes(d, rows, path, o, limit);
  else text_classes(d, rows, path, o, limit);
  return d;
}

}  // namespace

Dataset read(const std::string& path, const Options& o) {
  if (o.has_labels && !o.regression && o.num_classes == 0 && o.max_classes == 0)
    throw std::invalid_argument("CSV classes: max_classes must be at least 1");
  std::ifstream in(path);
  if (!std::filesystem::exists(path) || !in)
    throw std::runtime_error(fmt::format("cannot open '{}': no such file", detail::quote(path)));
  Layout layout;
  Rows rows;
  std::string record;
  std::size_t line_no = 0, lines = 0;
  char delimiter = 0;
  while (next_record(in, record, line_no, lines, delimiter)) {
    if (const std::size_t nul = record.find('\0'); nul != std::string::npos)
      throw std::runtime_error(fmt::format("{}:{}:{}: a NUL byte (expected text: is this a CSV file?)", path, line_no,
                                           nul + 1));
    const Fields f = split(record, delimiter, path, line_no);
    if (layout.fields == 0) {
      layout = read_layout(f, path, o, line_no, delimiter);
      if (!layout.header.empty()) {
        for (const Field& name : f) check_text(name.text, path, line_no, name.column, "the header name");
        continue;
      }
    }
    read_row(f, layout, path, o, line_no, rows);
    if (o.has_labels && !o.regression)
      for (std::size_t j = 0; j < f.size(); ++j)
        if (layout.role[j] == kLabel) check_text(f[j].text, path, line_no, f[j].column, "the label");
  }
  return to_dataset(path, layout, rows, o);
}

}  // namespace gradflow::csv
