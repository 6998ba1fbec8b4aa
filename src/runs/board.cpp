#include "runs/board.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "runs/report.h"
#include "runs/run_folder.h"

namespace gradflow::runs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A run's state: a process holds its lock (running), or how it ended (status.json), or it
// stopped without saying (killed outright).
std::string state_of(const RunFolder& f, json& status) {
  if (f.locked()) return "running";
  try {
    status = f.read_status();
  } catch (const std::exception&) {
    status = nullptr;
  }
  return status.is_object() ? status.value("state", "stopped") : "stopped";
}

json summary_of(const std::string& name, const RunFolder& f, std::size_t max_bytes) {
  json status;
  json s{{"name", name}, {"state", state_of(f, status)}, {"message", status.is_object() ? status.value("message", "") : ""}};
  json config;
  try {
    config = f.read_config();
  } catch (const std::exception&) {
  }
  // The headline: the last epoch's figures (the file's tail read, its last record alone parsed).
  const json metrics = f.read_metrics_tail(std::min<std::size_t>(max_bytes, 1 << 16), 1);
  s["last"] = metrics.empty() ? json(nullptr) : metrics.back();
  s["epochs"] = metrics.empty() ? 0 : metrics.back().value("epoch", 0);
  if (config.is_object()) {
    s["planned"] = config.value("epochs", 0);
    s["recipe"] = fmt::format("{} lr {} ({}), batch {}, layers {}", config.value("optimizer", "?"),
                              config.contains("lr") ? config["lr"].dump() : "?", config.value("schedule", "?"),
                              config.contains("batch_size") ? config["batch_size"].dump() : "?",
                              config.value("layers", "?"));
    s["data"] = config.value("data", "");
  }
  std::error_code ec;
  s["modified"] = std::chrono::duration<double>(fs::last_write_time(f.metrics(), ec).time_since_epoch()).count();
  return s;
}

// A run's files as they stand — each one's size and modification time, and whether a process
// holds the run's lock — from stat calls alone: a poll whose answer would be the same as the
// page's last one is told so (304) without a record read, parsed or sent. The listing looks at
// the files it reads (config, metrics, status); a run's view at all of them.
std::string version_of(const RunFolder& f, bool listing) {
  std::string v;
  const std::vector<std::string> files = listing ? std::vector{f.config(), f.metrics(), f.status()}
                                                 : std::vector{f.config(), f.metrics(), f.diagnostics(), f.confusion(), f.status()};
  for (const std::string& p : files) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(p, ec);
    const auto time = ec ? 0 : fs::last_write_time(p, ec).time_since_epoch().count();
    v += ec ? std::string("-;") : fmt::format("{}@{};", size, time);
  }
  return v + (f.locked() ? "running" : "");
}

// Sets the answer's ETag (the versions' hash); true, with a 304, when the client has it already.
bool not_modified(const httplib::Request& req, httplib::Response& res, const std::string& versions) {
  const std::string tag = fmt::format("\"{:016x}\"", std::hash<std::string>{}(versions));
  res.set_header("ETag", tag);
  if (req.get_header_value("If-None-Match") != tag) return false;
  res.status = 304;
  return true;
}

// JSON answers are sent as they are: httplib compresses exactly "application/json" with brotli
// when the browser accepts it, which cost the board more CPU than everything else it does (on
// loopback, for nothing); with a charset it leaves the body alone.
constexpr const char* kJson = "application/json; charset=utf-8";

// What the page holds of a run's records files, as it sends it back (`held`, one per run:
// "END.COUNT.ID" for metrics.jsonl, then "~" and the same for diagnostics.jsonl; ID in hex). A
// token that does not parse holds nothing: the run is sent whole.
using Held = RunFolder::Held;
std::pair<Held, Held> parse_held(const std::string& token) {
  const auto one = [](const std::string& t) {
    Held h;
    unsigned long long end = 0, count = 0, id = 0;
    char tail = 0;
    if (std::sscanf(t.c_str(), "%llu.%llu.%llx%c", &end, &count, &id, &tail) == 3) h = {end, count, id};
    return h;
  };
  const std::size_t cut = token.find('~');
  if (cut == std::string::npos) return {};
  return {one(token.substr(0, cut)), one(token.substr(cut + 1))};
}
std::string held_token(const Held& m, const Held& d) {
  return fmt::format("{}.{}.{:x}~{}.{}.{:x}", m.end, m.count, m.id, d.end, d.count, d.id);
}

bool inside(const fs::path& p, const fs::path& root) {
  const auto [r, _] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

constexpr const char* kBoardScript = R"JS(
(function () {
  const EVERY = 10000;  // ms between polls
  const loadId = Math.random().toString(36).slice(2);
  document.body.setAttribute('data-load', loadId);
  // ?run=NAME&run=NAME selects those runs; else the newest one, once there is one.
  const selected = new Set(new URLSearchParams(location.search).getAll('run'));
  let first = selected.size === 0, drawMs = 0, costMs = 0, drawnAt = -Infinity, shown = '';
  const el = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  const fmt = (v) => v === null || v === undefined ? '-' : (typeof v === 'number' ? +v.toPrecision(4) : v);
  // A poll sends the ETag of the answer it has; the server says 304 when nothing changed (it
  // looks at the files' sizes and times only), and nothing is read, sent, parsed or drawn.
  // `key`: what the answer is of (the runs asked for), apart from what the page holds of them.
  const tags = {};
  async function poll(what, url, key) {
    const last = tags[what] && tags[what].key === key ? tags[what].tag : null;
    const res = await fetch(url, { cache: 'no-store', headers: last ? { 'If-None-Match': last } : {} });
    if (res.status === 304) return null;
    tags[what] = { key: key, tag: res.headers.get('ETag') };
    const text = await res.text(), start = performance.now(), value = JSON.parse(text);
    const server = /dur=([0-9.]+)/.exec(res.headers.get('Server-Timing') || '');
    costMs = performance.now() - start + (server ? +server[1] : 0);
    return value;
  }
  const rowOf = (r) => {
    const last = r.last || {}, acc = last.test_acc !== undefined && last.test_acc !== null ? last.test_acc : last.val_acc;
    return '<tr data-run="' + esc(r.name) + '" data-state="' + esc(r.state) + '"><td><input type="checkbox" ' +
      (selected.has(r.name) ? 'checked' : '') + '></td><td class="name">' + esc(r.name) + '</td><td class="state ' +
      esc(r.state) + '" title="' + esc(r.message || '') + '">' + esc(r.state) + '</td><td>' + r.epochs +
      (r.planned ? ' / ' + r.planned : '') + '</td><td>' + fmt(last.train_loss) + '</td><td>' +
      (acc === undefined || acc === null ? '-' : (100 * acc).toFixed(2) + '%') + '</td><td class="recipe">' +
      esc(r.recipe || '') + '</td></tr>';
  };
  const listen = (tr) => tr.querySelector('input').addEventListener('change', (e) => {
    const name = tr.getAttribute('data-run');
    if (e.target.checked) selected.add(name); else selected.delete(name);
    view(true);
  });
  // The same runs in the same order: only the rows that changed are replaced (a table rebuilt
  // every few seconds would lay out and repaint the whole page, charts included).
  let rowsShown = [];
  async function runs() {
    const list = await poll('runs', 'api/runs', '');
    if (!list) return;
    if (first && list.length) { selected.add(list[0].name); first = false; }
    const rows = list.map(r => [r.name, rowOf(r)]), table = el('runs');
    if (rows.length === rowsShown.length && rows.every((x, i) => x[0] === rowsShown[i][0])) {
      rows.forEach((x, i) => {
        if (x[1] === rowsShown[i][1]) return;
        table.rows[i + 1].outerHTML = x[1];
        listen(table.rows[i + 1]);
      });
    } else {
      table.innerHTML = '<tr><th></th><th>run</th><th>state</th><th>epoch</th><th>loss</th><th>accuracy</th>' +
                        '<th>recipe</th></tr>' + rows.map(x => x[1]).join('');
      [...table.rows].slice(1).forEach(listen);
    }
    rowsShown = rows;
  }
  // The records held of each run: an answer carries only those the page lacks, to be appended
  // (or, when the server says so, all of them anew).
  let held = {};
  function hold(runs) {
    const now = {};
    for (const r of runs) {
      for (const k of ['metrics', 'diagnostics'])
        if (r.appended[k] && held[r.name]) r[k] = held[r.name][k].concat(r[k]);
      now[r.name] = r;
    }
    held = now;
  }
  // Redrawn when the run's files changed — the charts in place — at most every 100× the last
  // update's cost as the page can see it (the server building it, parsing, the script drawing; a
  // canvas is rasterized later, off the clock), and EVERY apart at least: with the list's poll,
  // the page's work stays under 2% of a core while a run trains beside it, the browser's own
  // idle ~1% more (docs/cli.md has the figures). At once when the selection changes (the first drawing of a selection builds the
  // charts and does not set the pace).
  const shownHtml = {}, html = (id, h) => { if (shownHtml[id] !== h) el(id).innerHTML = shownHtml[id] = h; };
  // One view request at a time: each answer builds on the records the one before left held.
  let viewing = Promise.resolve();
  const view = (now) => (viewing = viewing.then(() => viewOnce(now)).catch((e) => {
    el('status').textContent = 'the board is not answering: ' + e;
  }));
  async function viewOnce(now) {
    if (!now && performance.now() - drawnAt < Math.max(EVERY, 100 * drawMs)) return;
    if (!selected.size) { el('view').hidden = true; return; }
    const q = [...selected].map(n => 'run=' + encodeURIComponent(n)).join('&');
    const v = await poll('view', 'api/view?' + q + [...selected].map(n => '&held=' + (held[n] ? held[n].held : '')).join(''), q);
    if (!v) return;
    if (v.error) { el('status').textContent = v.error; return; }
    hold(v.data.runs);
    el('view').hidden = false;
    html('headline', v.headline);
    html('warnings', v.warnings);
    html('config', v.config);
    const start = performance.now(), drawn = gradflowDrawRuns(v.data, el('charts'));
    drawnAt = performance.now();
    drawMs = q === shown ? costMs + drawnAt - start : 0;
    shown = q;
    document.body.setAttribute('data-draw-ms', (drawnAt - start).toFixed(1));
    document.body.setAttribute('data-charts', String(drawn));
    document.body.setAttribute('data-points', String(v.data.runs.reduce((n, r) => n + r.metrics.length, 0)));
    document.body.setAttribute('data-records', JSON.stringify(v.data.runs.map(r => [r.name, r.metrics.map(m => m.epoch),
                                                                                  r.diagnostics.map(d => d.step)])));
    document.body.setAttribute('data-shown', v.data.runs.map(r => r.name).join(','));
    el('status').textContent = drawn + ' charts of ' + v.data.runs.length + ' run(s), updated ' +
                               new Date().toLocaleTimeString();
  }
  // The list every EVERY (a 304 when no run changed; TensorBoard looks every 30 s), the charts when
  // due. A page in a background tab asks nothing until it is shown again.
  async function tick() {
    if (!document.hidden)
      try { await runs(); await view(false); } catch (e) { el('status').textContent = 'the board is not answering: ' + e; }
    setTimeout(tick, EVERY);
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) { runs(); view(false); } });
  tick();
})();
)JS";

constexpr const char* kBoardBody = R"HTML(
<p class="about">Runs under the board's folders, newest first; tick runs to draw them together. The page follows
them as they train.</p>
<table id="runs" class="runs"></table>
<div id="view" hidden><div id="headline"></div><h2>Curves and layers</h2><div id="charts"></div>
<h2>Warnings</h2><div id="warnings"></div><h2>Configuration</h2><div id="config"></div></div>
)HTML";

}  // namespace

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::vector<BoardRun> find_runs(const std::vector<std::string>& folders) {
  std::vector<BoardRun> found;
  for (const std::string& folder : folders) {
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(folder, ec);
    if (ec || !fs::is_directory(root)) continue;
    const auto add = [&](const fs::path& dir) {
      const fs::path real = fs::weakly_canonical(dir, ec);
      if (ec || !inside(real, root) || !fs::exists(RunFolder(dir.string()).config())) return false;
      std::string name = fs::relative(dir, folder, ec).generic_string();
      if (name.empty() || name == ".") name = fs::path(folder).filename().string();
      else if (folders.size() > 1) name = (fs::path(folder).filename() / name).generic_string();
      found.push_back({name, dir.string(), nullptr});
      return true;
    };
    if (add(folder)) continue;
    // Run folders below, two levels at most (runs/, or runs/<study or sweep>/).
    for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec)) {
        if (add(it->path())) it.disable_recursion_pending();
        else if (it.depth() >= 1) it.disable_recursion_pending();
      }
  }
  return found;
}

struct Board::Server {
  httplib::Server http;
  // Each listed run's summary with the version of its files it was made from: a list that
  // changed because one run trains re-reads that run only (1,000 runs: ~0.3 s each time else).
  // Runs no longer found are dropped, so it holds at most what the last listing did.
  std::mutex mutex;
  std::unordered_map<std::string, std::pair<std::string, json>> summaries;
};

Board::Board(BoardOptions options) : o_(std::move(options)), server_(std::make_unique<Server>()) {
  httplib::Server& s = server_->http;
  // A connection kept open between a page's polls costs ~100 wakeups a second (httplib checks it
  // every 10 ms) — more than the polls themselves: one request per connection.
  s.set_keep_alive_max_count(1);
  const std::string page = chart_page("gradflow board", kBoardBody, json::object(), kBoardScript);
  s.Get("/", [page](const httplib::Request&, httplib::Response& res) { res.set_content(page, "text/html; charset=utf-8"); });
  s.Get("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    const std::vector<BoardRun> runs = find_runs(o_.folders);
    std::vector<std::string> version(runs.size());
    std::string versions;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      version[i] = version_of(RunFolder(runs[i].dir), true);
      versions += runs[i].name + '\n' + version[i] + '\n';
    }
    if (not_modified(req, res, versions)) return;
    json list = json::array();
    std::unordered_map<std::string, std::pair<std::string, json>> kept;
    {
      const std::lock_guard<std::mutex> lock(server_->mutex);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const std::string key = runs[i].name + '\n' + runs[i].dir;
        auto& [v, summary] = kept[key];
        if (const auto was = server_->summaries.find(key); was != server_->summaries.end() && was->second.first == version[i])
          summary = std::move(was->second.second);
        else
          summary = summary_of(runs[i].name, RunFolder(runs[i].dir), o_.max_record_bytes);
        v = version[i];
        list.push_back(summary);
      }
      server_->summaries = std::move(kept);
    }
    std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) { return a["modified"] > b["modified"]; });
    res.set_content(list.dump(), kJson);
  });
  s.Get("/api/view", [this](const httplib::Request& req, httplib::Response& res) {
    const auto began = std::chrono::steady_clock::now();
    const std::vector<BoardRun> runs = find_runs(o_.folders);
    std::vector<const BoardRun*> chosen;
    std::string versions;
    for (std::size_t i = 0; i < req.get_param_value_count("run"); ++i) {
      const std::string name = req.get_param_value("run", i);
      const auto r = std::find_if(runs.begin(), runs.end(), [&](const BoardRun& b) { return b.name == name; });
      if (r == runs.end()) {
        res.status = 404;
        res.set_content(json{{"error", "no run of that name"}}.dump(), kJson);
        return;
      }
      chosen.push_back(&*r);
      versions += r->name + '\n' + version_of(RunFolder(r->dir), false) + '\n';
    }
    if (!chosen.empty() && not_modified(req, res, versions)) return;
    // The headline and warnings come from all of a run's metrics (a small file); the charts'
    // records only what the page lacks (a live run's diagnostics grow by megabytes).
    std::vector<RunRecords> records;
    std::vector<std::pair<RunFolder::Since, RunFolder::Since>> fresh;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      const RunFolder f(chosen[i]->dir);
      const auto [m, d] = parse_held(i < req.get_param_value_count("held") ? req.get_param_value("held", i) : "");
      fresh.emplace_back(f.read_metrics_since(m, o_.max_record_bytes, o_.max_records),
                         f.read_diagnostics_since(d, o_.max_record_bytes, o_.max_records));
      const RunFolder::Since& metrics = fresh.back().first;  // read whole: the headline's too
      RunRecords rec{chosen[i]->name, nullptr,
                     metrics.appended ? f.read_metrics_tail(o_.max_record_bytes, o_.max_records) : metrics.records,
                     json::array(), nullptr, nullptr};
      try {
        rec.config = f.read_config();
        rec.confusion = f.read_confusion();
      } catch (const std::exception&) {
      }
      records.push_back(std::move(rec));
    }
    if (records.empty()) {
      res.status = 400;
      res.set_content(json{{"error", "name a run: /api/view?run=NAME"}}.dump(), kJson);
      return;
    }
    ReportView v = report_view(std::move(records));
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      auto& [m, d] = fresh[i];
      json& r = v.data["runs"][i];
      r["metrics"] = std::move(m.records);
      r["diagnostics"] = std::move(d.records);
      r["appended"] = {{"metrics", m.appended}, {"diagnostics", d.appended}};
      r["held"] = held_token(m.held, d.held);
    }
    json out = json::object();
    out["data"] = std::move(v.data);
    out["headline"] = std::move(v.headline);
    out["warnings"] = std::move(v.warnings);
    out["config"] = std::move(v.config);
    res.set_content(out.dump(), kJson);
    // What building the answer cost: the page paces its updates by it (a long run's records take
    // longer to read and send than a short one's).
    res.set_header("Server-Timing", fmt::format("build;dur={:.1f}", std::chrono::duration<double, std::milli>(
                                                                         std::chrono::steady_clock::now() - began).count()));
  });
  port_ = o_.port == 0 ? s.bind_to_any_port(o_.host) : (s.bind_to_port(o_.host, o_.port) ? o_.port : -1);
  if (port_ <= 0)
    throw std::runtime_error(fmt::format("board: cannot listen on {}:{} (in use, or not an address of this machine; "
                                         "--port 0 picks a free port)",
                                         o_.host, o_.port));
}

Board::~Board() { stop(); }

std::string Board::url() const {
  const bool v6 = o_.host.find(':') != std::string::npos;
  return fmt::format("http://{}:{}/", v6 ? "[" + o_.host + "]" : o_.host, port_);
}

void Board::serve() { server_->http.listen_after_bind(); }

void Board::stop() {
  if (server_) server_->http.stop();
}

}  // namespace gradflow::runs
