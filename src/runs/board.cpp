#include "runs/board.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>

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
  // The headline: the last epoch's figures (the tail of the records only: the file may be large).
  const json metrics = f.read_metrics_tail(std::min<std::size_t>(max_bytes, 1 << 16));
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

bool inside(const fs::path& p, const fs::path& root) {
  const auto [r, _] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

constexpr const char* kBoardScript = R"JS(
(function () {
  const loadId = Math.random().toString(36).slice(2);
  document.body.setAttribute('data-load', loadId);
  // ?run=NAME&run=NAME selects those runs; else the newest one, once there is one.
  const selected = new Set(new URLSearchParams(location.search).getAll('run'));
  let shown = '', listed = '', first = selected.size === 0, drawMs = 0, drawnAt = 0;
  const el = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  const fmt = (v) => v === null || v === undefined ? '-' : (typeof v === 'number' ? +v.toPrecision(4) : v);
  async function runs() {
    const text = await (await fetch('api/runs')).text();
    if (text === listed) return;  // the table is rebuilt only when something in it changed
    listed = text;
    const list = JSON.parse(text);
    if (first && list.length) { selected.add(list[0].name); first = false; }
    el('runs').innerHTML = '<tr><th></th><th>run</th><th>state</th><th>epoch</th><th>loss</th><th>accuracy</th>' +
      '<th>recipe</th></tr>' + list.map(r => {
        const last = r.last || {}, acc = last.test_acc !== undefined && last.test_acc !== null ? last.test_acc : last.val_acc;
        return '<tr data-run="' + esc(r.name) + '" data-state="' + esc(r.state) + '"><td><input type="checkbox" ' +
          (selected.has(r.name) ? 'checked' : '') + '></td><td class="name">' + esc(r.name) + '</td><td class="state ' +
          esc(r.state) + '" title="' + esc(r.message || '') + '">' + esc(r.state) + '</td><td>' + r.epochs +
          (r.planned ? ' / ' + r.planned : '') + '</td><td>' + fmt(last.train_loss) + '</td><td>' +
          (acc === undefined || acc === null ? '-' : (100 * acc).toFixed(2) + '%') + '</td><td class="recipe">' +
          esc(r.recipe || '') + '</td></tr>';
      }).join('');
    el('runs').querySelectorAll('input').forEach(box => box.addEventListener('change', () => {
      const name = box.closest('tr').getAttribute('data-run');
      if (box.checked) selected.add(name); else selected.delete(name);
      view(true);
    }));
  }
  // Redrawn when the records changed — at most every 50× the last drawing's time (at least a
  // second apart), so that the page spends about 2% of a core drawing while a run trains beside
  // it — and at once when the selection changes.
  async function view(now) {
    if (!now && performance.now() - drawnAt < 50 * drawMs) return;
    if (!selected.size) { el('view').hidden = true; return; }
    const q = [...selected].map(n => 'run=' + encodeURIComponent(n)).join('&');
    const v = await (await fetch('api/view?' + q)).json();
    if (v.error) { el('status').textContent = v.error; return; }
    // Redrawn only when the records changed (a new epoch, record or warning).
    const key = JSON.stringify(v.data.runs.map(r => [r.name, r.metrics.length, r.diagnostics.length])) + v.warnings;
    if (key === shown) return;
    shown = key;
    el('view').hidden = false;
    el('headline').innerHTML = v.headline;
    el('warnings').innerHTML = v.warnings;
    el('config').innerHTML = v.config;
    const grid = el('charts'), start = performance.now();
    grid.innerHTML = '';
    const drawn = gradflowDrawRuns(v.data, grid);
    drawMs = performance.now() - start;
    drawnAt = performance.now();
    document.body.setAttribute('data-draw-ms', drawMs.toFixed(1));
    document.body.setAttribute('data-charts', String(drawn));
    document.body.setAttribute('data-points', String(v.data.runs.reduce((n, r) => n + r.metrics.length, 0)));
    document.body.setAttribute('data-shown', v.data.runs.map(r => r.name).join(','));
    el('status').textContent = drawn + ' charts of ' + v.data.runs.length + ' run(s), updated ' +
                               new Date().toLocaleTimeString();
  }
  async function tick() {
    try { await runs(); await view(false); } catch (e) { el('status').textContent = 'the board is not answering: ' + e; }
    setTimeout(tick, 1000);
  }
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
};

Board::Board(BoardOptions options) : o_(std::move(options)), server_(std::make_unique<Server>()) {
  httplib::Server& s = server_->http;
  const std::string page = chart_page("gradflow board", kBoardBody, json::object(), kBoardScript);
  s.Get("/", [page](const httplib::Request&, httplib::Response& res) { res.set_content(page, "text/html; charset=utf-8"); });
  s.Get("/api/runs", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<BoardRun> runs = find_runs(o_.folders);
    json list = json::array();
    for (BoardRun& r : runs) list.push_back(summary_of(r.name, RunFolder(r.dir), o_.max_record_bytes));
    std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) { return a["modified"] > b["modified"]; });
    res.set_content(list.dump(), "application/json");
  });
  s.Get("/api/view", [this](const httplib::Request& req, httplib::Response& res) {
    const std::vector<BoardRun> runs = find_runs(o_.folders);
    std::vector<RunRecords> records;
    for (std::size_t i = 0; i < req.get_param_value_count("run"); ++i) {
      const std::string name = req.get_param_value("run", i);
      const auto r = std::find_if(runs.begin(), runs.end(), [&](const BoardRun& b) { return b.name == name; });
      if (r == runs.end()) {
        res.status = 404;
        res.set_content(json{{"error", "no run of that name"}}.dump(), "application/json");
        return;
      }
      const RunFolder f(r->dir);
      RunRecords rec{name, nullptr, f.read_metrics_tail(o_.max_record_bytes, o_.max_records),
                     f.read_diagnostics_tail(o_.max_record_bytes, o_.max_records), nullptr, nullptr};
      try {
        rec.config = f.read_config();
        rec.confusion = f.read_confusion();
      } catch (const std::exception&) {
      }
      records.push_back(std::move(rec));
    }
    if (records.empty()) {
      res.status = 400;
      res.set_content(json{{"error", "name a run: /api/view?run=NAME"}}.dump(), "application/json");
      return;
    }
    const ReportView v = report_view(records);
    res.set_content(json{{"data", v.data}, {"headline", v.headline}, {"warnings", v.warnings}, {"config", v.config}}.dump(),
                    "application/json");
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
