#include "runs/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/model_file.h"
#include "gradflow/detail/json_depth.h"

namespace gradflow::runs {

namespace fs = std::filesystem;
using nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {
// JSON has no NaN or infinity: a missing or non-finite figure is null.
ordered or_null(double v) { return std::isfinite(v) ? ordered(v) : ordered(nullptr); }

// The records of a JSON-lines file: of its last `max_bytes` (all of a smaller file), every k-th
// when there are more than `max_records` (the last always kept; lines are counted first and only
// those kept parsed) — or, given `after`, those from that byte on (what a live view lacks). A last
// line without its newline is being written (or was cut short by a kill): not a record. A line
// that is not JSON is an error naming the file and line, or skipped (`skip_bad`: a live view shows
// what it can). A missing file is an empty list unless required. `end`: where the last whole line
// ends.
struct JsonlRead {
  bool required = false, skip_bad = false;
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max(), max_records = 0;
  std::optional<std::size_t> after = std::nullopt;
};
struct Jsonl {
  json rows = json::array();
  std::size_t end = 0;
};

// The file's text from `from` on: the tail's start, or `after` (which must begin a line of the
// file as it is, with at most max_bytes and max_records after it: else nullopt).
std::optional<std::string> jsonl_text(std::ifstream& f, const JsonlRead& how, std::size_t& from) {
  const auto size = static_cast<std::size_t>(f.tellg());
  from = how.after ? *how.after : (size > how.max_bytes ? size - how.max_bytes : 0);
  if (how.after && (from > size || size - from > how.max_bytes)) return std::nullopt;
  const std::size_t back = how.after && from > 0 ? 1 : 0;  // the byte before `after`: a line's end
  std::string text(size - from + back, '\0');
  f.seekg(static_cast<std::streamoff>(from - back));
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (back && text[0] != '\n') return std::nullopt;
  return text.substr(back);
}

std::optional<Jsonl> read_jsonl_at(const std::string& p, const JsonlRead& how) {
  Jsonl out;
  std::ifstream f(p, std::ios::binary | std::ios::ate);
  if (!f) {
    if (how.required) throw std::runtime_error(fmt::format("cannot open '{}': no such file (is this a run folder?)", p));
    if (how.after && *how.after > 0) return std::nullopt;
    return out;
  }
  std::size_t from = 0;
  const std::optional<std::string> read = jsonl_text(f, how, from);
  if (!read) return std::nullopt;
  const std::string& text = *read;
  std::size_t start = 0;
  if (from > 0 && !how.after) start = text.find('\n') == std::string::npos ? text.size() : text.find('\n') + 1;  // a line begun before
  const std::size_t end = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  out.end = from + std::max(start, end);
  if (start >= end) return out;
  const auto lines = static_cast<std::size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(start),
                                                         text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
  if (how.after && how.max_records && lines > how.max_records) return std::nullopt;
  const std::size_t stride = how.max_records ? std::max<std::size_t>(1, (lines + how.max_records - 1) / how.max_records) : 1;
  for (std::size_t i = 0, a = start; a < end; ++i) {
    const std::size_t b = text.find('\n', a);
    if ((lines - 1 - i) % stride == 0 && b > a) {  // counted from the last line, which is always kept
      const std::string where = from == 0 ? fmt::format("{}:{}", p, i + 1) : p;
      try {
        out.rows.push_back(detail::parse_json<json>(text.substr(a, b - a), where));
      } catch (const json::exception& e) {
        if (!how.skip_bad) throw std::runtime_error(fmt::format("{}: not valid JSON: {}", where, e.what()));
      } catch (const std::exception&) {  // nested too deep (parse_json names the place)
        if (!how.skip_bad) throw;
      }
    }
    a = b + 1;
  }
  return out;
}

json read_jsonl(const std::string& p, const JsonlRead& how) { return read_jsonl_at(p, how)->rows; }

json read_json(const std::string& p) {
  std::ifstream f(p);
  if (!f) return nullptr;
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  try {
    return detail::parse_json<json>(text, p);
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", p, e.what()));
  }
}
}  // namespace

std::string RunFolder::file(const char* name) const { return (fs::path(dir_) / name).string(); }

void RunFolder::write_config(const Recipe& c) const {
  write_file_atomic(config(), config_json(c).dump(2) + "\n");
}

void RunFolder::create_metrics() const {
  if (!fs::exists(metrics())) write_file_atomic(metrics(), "");
}

nlohmann::ordered_json metrics_record(const EpochMetrics& m, double lr, const std::vector<std::string>& warnings) {
  ordered row{{"epoch", m.epoch},           {"train_loss", or_null(m.train_loss)}, {"train_acc", or_null(m.train_acc)},
              {"val_loss", or_null(m.val_loss)}, {"val_acc", or_null(m.val_acc)},     {"test_loss", or_null(m.test_loss)},
              {"test_acc", or_null(m.test_acc)}, {"lr", lr},                          {"seconds", m.seconds}};
  // A regression's MAE and R² (absent for classification, which keeps its records as they were).
  for (const auto& [key, v] : {std::pair{"val_mae", m.val_mae}, std::pair{"val_r2", m.val_r2},
                               std::pair{"test_mae", m.test_mae}, std::pair{"test_r2", m.test_r2}})
    if (!std::isnan(v)) row[key] = or_null(v);
  const EpochMetrics::Times& t = m.times;
  row["times"] = ordered{{"gather", t.gather},       {"forward", t.forward},     {"backward", t.backward},
                         {"update", t.update},       {"callbacks", t.callbacks}, {"evaluate", t.evaluate}};
  if (!warnings.empty()) row["warnings"] = warnings;
  return row;
}

nlohmann::ordered_json diagnostics_record(const DiagnosticsRecord& r) {
  ordered layers = ordered::array();
  for (const LayerRecord& l : r.layers) {
    ordered j{{"index", l.index}, {"name", l.name}, {"kind", to_string(l.kind)},
              {"out_mean", or_null(l.out_mean)}, {"out_std", or_null(l.out_std)}};
    if (l.kind == LayerKind::Dense) {
      j["weight_norm"] = or_null(l.weight_norm);
      j["grad_norm"] = or_null(l.grad_norm);
      j["update_ratio"] = or_null(l.update_ratio);
    }
    if (!std::isnan(l.dead)) j["dead"] = l.dead;
    if (!std::isnan(l.saturated)) j["saturated"] = l.saturated;
    if (l.kind == LayerKind::BatchNorm) {
      j["gamma_mean"] = or_null(l.gamma_mean);
      j["beta_mean"] = or_null(l.beta_mean);
    }
    layers.push_back(std::move(j));
  }
  return ordered{{"step", r.step}, {"epoch", r.epoch}, {"layers", layers}};
}

void RunFolder::append_metrics(const EpochMetrics& m, double lr, const std::vector<std::string>& warnings) const {
  append_line(metrics(), metrics_record(m, lr, warnings).dump());
}

void RunFolder::open_diagnostics(bool append) const {
  if (!append) std::ofstream(diagnostics(), std::ios::trunc);
}

void RunFolder::append_diagnostics(const DiagnosticsRecord& r) const { append_line(diagnostics(), diagnostics_record(r).dump()); }

void RunFolder::write_confusion(const Evaluation& ev, const std::vector<std::string>& names) const {
  json c{{"classes", ev.classes}, {"names", names}, {"matrix", json::array()}};
  for (std::size_t t = 0; t < ev.classes; ++t)
    c["matrix"].push_back(std::vector<std::size_t>(ev.confusion.begin() + static_cast<std::ptrdiff_t>(t * ev.classes),
                                                   ev.confusion.begin() + static_cast<std::ptrdiff_t>((t + 1) * ev.classes)));
  write_file_atomic(confusion(), c.dump() + "\n");
}

void RunFolder::keep_records_up_to(std::size_t epoch, std::size_t step) const {
  keep_records(metrics(), "epoch", epoch);
  keep_records(diagnostics(), "step", step);
}

json RunFolder::read_config() const { return read_json(config()); }
json RunFolder::read_metrics() const { return read_jsonl(metrics(), {.required = true}); }
json RunFolder::read_status() const { return read_json(status()); }

void RunFolder::write_status(const std::string& state, const std::string& message) const {
  write_file_atomic(status(), json{{"state", state}, {"message", message}}.dump() + "\n");
}

bool RunFolder::locked() const {
  const int fd = ::open(lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // A shared lock that is refused: the writer holds its exclusive one (taken back at once).
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (!held) ::flock(fd, LOCK_UN);
  ::close(fd);
  return held;
}

json RunFolder::read_metrics_tail(std::size_t max_bytes, std::size_t max_records) const {
  return read_jsonl(metrics(), {.skip_bad = true, .max_bytes = max_bytes, .max_records = max_records});
}
json RunFolder::read_diagnostics_tail(std::size_t max_bytes, std::size_t max_records) const {
  return read_jsonl(diagnostics(), {.skip_bad = true, .max_bytes = max_bytes, .max_records = max_records});
}
RunFolder::Since RunFolder::read_since(const std::string& path, const Held& held, std::size_t max_bytes,
                                       std::size_t max_records) const {
  struct stat file {}, cfg {};
  const std::uint64_t id = (::stat(path.c_str(), &file) == 0 ? static_cast<std::uint64_t>(file.st_ino) : 0) * 1000003u ^
                           (::stat(config().c_str(), &cfg) == 0 ? static_cast<std::uint64_t>(cfg.st_mtim.tv_sec) * 1000000000u +
                                                                      static_cast<std::uint64_t>(cfg.st_mtim.tv_nsec)
                                                                : 0);
  Since s;
  std::optional<Jsonl> read;
  const std::size_t room = !max_records ? std::numeric_limits<std::size_t>::max()
                                        : held.count < 2 * max_records ? 2 * max_records - held.count : 0;
  if (held.id == id && held.end > 0 && room > 0)
    read = read_jsonl_at(path, {.skip_bad = true, .max_bytes = max_bytes,
                                .max_records = max_records ? std::min(max_records, room) : 0, .after = held.end});
  s.appended = read.has_value();
  if (!read) read = read_jsonl_at(path, {.skip_bad = true, .max_bytes = max_bytes, .max_records = max_records});
  s.held = {read->end, (s.appended ? held.count : 0) + read->rows.size(), id};
  s.records = std::move(read->rows);
  return s;
}
RunFolder::Since RunFolder::read_metrics_since(const Held& held, std::size_t max_bytes, std::size_t max_records) const {
  return read_since(metrics(), held, max_bytes, max_records);
}
RunFolder::Since RunFolder::read_diagnostics_since(const Held& held, std::size_t max_bytes, std::size_t max_records) const {
  return read_since(diagnostics(), held, max_bytes, max_records);
}
json RunFolder::read_diagnostics() const { return read_jsonl(diagnostics(), {}); }
json RunFolder::read_confusion() const { return read_json(confusion()); }

void keep_records(const std::string& path, const std::string& key, std::size_t last) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line cut short by an interruption
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    try {
      const json j = detail::parse_json<json>(line, path);
      if (j.at(key).get<std::size_t>() <= last) kept += line + "\n";
    } catch (const std::exception&) {
      // not a record of ours (or nested absurdly deep): dropped
    }
  }
  if (kept != text) write_file_atomic(path, kept);
}

}  // namespace gradflow::runs
