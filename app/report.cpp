#include "report.h"
#include "output_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>
#include "gradflow/detail/json_depth.h"
#include <nlohmann/json.hpp>

#include "gradflow/model_file.h"
#include "run_folder.h"
#include "gradflow/layer_kinds.h"

namespace gradflow::app {

extern const char* const kUplotJs;
extern const char* const kUplotCss;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The chart library every page shares: gradflowCharts(container) returns chart() (a uPlot line
// chart, empty panels saying why), regions() (a 2-D map of a classifier's decisions, on a
// canvas) and drawn(). A page marks its body with data-charts (how many were drawn) or
// data-errors when something failed.
constexpr const char* kChartLib = R"JS(
window.gradflowErrors = [];
window.addEventListener('error', (e) => {
  window.gradflowErrors.push(String(e.message));
  document.body.setAttribute('data-errors', window.gradflowErrors.join(' | '));
});
window.gradflowCharts = function (grid) {
  const palette = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
  let drawn = 0;
  // Tick labels with just enough digits to tell the ticks apart (a nearly constant series, such
  // as a learning rate without schedule, would otherwise show the same label on every tick).
  // The labels drawn are kept in the chart's data-yticks.
  const distinct = (box) => (u, vs) => {
    // Large and tiny values in scientific notation: 5.8e13 written out is wider than the axis,
    // which then showed only its last digits ("0000000000").
    const text = (v, p) => v == null ? '' : (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-4))
                                            ? v.toExponential(Math.max(0, p - 1)) : String(+v.toPrecision(p));
    let labels = vs.map(v => text(v, 10));
    for (let p = 2; p <= 10; p++) {
      const l = vs.map(v => text(v, p));
      if (new Set(l).size === l.length) { labels = l; break; }
    }
    box.dataset.yticks = JSON.stringify(labels);
    return labels;
  };
  const panel = (title, caption) => {
    const box = document.createElement('div');
    box.className = 'chart';
    grid.appendChild(box);
    if (caption) {
      const p = document.createElement('p');
      p.className = 'caption';
      p.textContent = caption;
      box.appendChild(p);
    }
    return box;
  };
  // Series that carry their own x values (s.xs: each run's epochs or steps) on one x axis: the
  // union of them, each series null where it has no point (uPlot draws one x array per chart).
  function align(series) {
    const xs = [...new Set([].concat(...series.map(s => s.xs)))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    return { xs: xs, series: series.map(s => {
      const values = new Array(xs.length).fill(null);
      s.xs.forEach((x, i) => { values[at.get(x)] = s.values[i]; });
      return Object.assign({}, s, { values: values });
    }) };
  }
  // An empty panel says why it is empty (opts.why), not just "no data". xs null: every series
  // brings its own (align).
  function chart(title, xlabel, xs, series, opts) {
    opts = opts || {};
    // (No series at all: the x values of opts.records, so that the panel says opts.why.)
    if (xs === null) ({ xs, series } = series.length ? align(series) : { xs: opts.records || [], series: [] });
    const box = panel(title, opts.caption);
    const usable = series.filter(s => s.values.some(v => v !== null && isFinite(v) && (!opts.log || v > 0)));
    if (!xs.length || !usable.length) {
      const why = !xs.length && opts.xwhy ? opts.xwhy : (opts.why || 'no finite values were recorded');
      box.insertAdjacentHTML('afterbegin', '<h3>' + title + '</h3><p class="none">no data: ' + why + '</p>');
      box.dataset.empty = why;
      return;
    }
    const clean = (v) => (v === null || !isFinite(v) || (opts.log && v <= 0)) ? null : v;
    const data = [xs].concat(usable.map(s => s.values.map(clean)));
    // As wide as its column of the page's grid (two columns at 1200 px, more on wider pages).
    const width = Math.max(320, Math.floor(box.getBoundingClientRect().width) - 10);
    box.dataset.width = String(width);
    // What was drawn, for the tests: the x range and each series' last x with a point.
    box.dataset.x = JSON.stringify([xs[0], xs[xs.length - 1]]);
    box.dataset.lastx = JSON.stringify(data.slice(1).map(v => xs[v.reduce((last, y, i) => (y === null ? last : i), 0)]));
    new uPlot({
      title: title, width: width, height: 300,
      scales: { x: { time: false, distr: opts.xlog ? 3 : 1 }, y: opts.log ? { distr: 3 } : (opts.range ? { range: opts.range } : {}) },
      axes: [{ label: xlabel }, { label: opts.ylabel || '', size: 60,
               values: opts.log ? (u, vs) => vs.map(v => v == null ? '' : (v >= 0.01 && v < 1000 ? String(+v.toPrecision(2))
                                                                                                  : v.toExponential(0)))
                                : distinct(box) }],
      series: [{ label: xlabel }].concat(usable.map((s, i) => ({
        label: s.label, stroke: palette[(s.color !== undefined ? s.color : i) % palette.length], width: 1.5, dash: s.dash,
        spanGaps: true, points: { show: xs.length < 40 } })))
    }, data, (u, init) => { box.insertBefore(u.root, box.firstChild); init(); });
    drawn++;
  }
  // cells: nx·ny predicted classes over [x0, x1] × [y0, y1], row by row from y0; points: [x, y, class].
  function regions(title, r, caption) {
    const box = panel(title, caption);
    const size = 240;
    const h = document.createElement('h3');
    h.textContent = title;
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    box.insertBefore(canvas, box.firstChild);
    box.insertBefore(h, canvas);
    const g = canvas.getContext('2d');
    const fill = ['#c6dbef', '#fcbba1', '#c7e9c0', '#fdd0a2'];
    const cw = size / r.nx, ch = size / r.ny;
    for (let j = 0; j < r.ny; j++)
      for (let i = 0; i < r.nx; i++) {
        g.fillStyle = fill[r.cells[j * r.nx + i] % fill.length];
        g.fillRect(i * cw, size - (j + 1) * ch, cw + 0.5, ch + 0.5);
      }
    for (const [x, y, c] of r.points) {
      g.fillStyle = palette[c % palette.length];
      g.beginPath();
      g.arc((x - r.x0) / (r.x1 - r.x0) * size, size - (y - r.y0) / (r.y1 - r.y0) * size, 5, 0, 2 * Math.PI);
      g.fill();
    }
    drawn++;
  }
  return { chart, regions, drawn: () => drawn };
};
)JS";

// A run page (report and compare): curves per epoch and per-layer diagnostics.
constexpr const char* kScript = R"JS(
(function () {
  const D = JSON.parse(document.getElementById('gradflow-data').textContent);
  const C = gradflowCharts(document.getElementById('charts'));
  const chart = C.chart;
  const epochs = (run) => run.metrics.map(m => m.epoch);
  const col = (rows, key) => rows.map(r => (r[key] === undefined ? null : r[key]));
  const runs = D.runs;
  const multi = runs.length > 1;
  const name = (r, s) => multi ? r.name + ' ' + s : s;

  // ---- curves per epoch ----
  // Train solid, validation dotted, test dashed; in a comparison each run keeps one colour.
  const has = (r, key) => r.metrics.some(m => m[key] !== undefined && m[key] !== null);
  // Each run on its own epochs: a comparison of runs of different lengths draws every one whole.
  const curves = (key) => [].concat(...runs.map((r, k) => [
    { label: name(r, 'train'), xs: epochs(r), values: col(r.metrics, 'train_' + key), color: multi ? k : 0 }]
    .concat(has(r, 'val_' + key) ? [{ label: name(r, 'validation'), xs: epochs(r), values: col(r.metrics, 'val_' + key),
                                      dash: [2, 3], color: multi ? k : 2 }] : [])
    .concat([{ label: name(r, 'test'), xs: epochs(r), values: col(r.metrics, 'test_' + key), dash: [6, 3],
               color: multi ? k : 1 }])));
  const noEpoch = 'no epoch finished';
  chart('Loss', 'epoch', null, curves('loss'), { ylabel: 'loss', xwhy: noEpoch });
  chart('Accuracy', 'epoch', null, curves('acc'),
        { ylabel: 'accuracy', xwhy: noEpoch, why: 'accuracy is defined for classification only (this is a regression)' });
  chart('Learning rate', 'epoch', null,
        runs.map(r => ({ label: name(r, 'lr'), xs: epochs(r), values: col(r.metrics, 'lr') })),
        { ylabel: 'lr', xwhy: noEpoch });
  // Where each epoch's time went (EpochMetrics::times); a comparison shows each run's whole epoch.
  const parts = ['forward', 'backward', 'update', 'evaluate', 'gather', 'callbacks'];
  chart('Time per epoch', 'epoch', null,
        multi ? runs.map((r, k) => ({ label: name(r, 'epoch'), xs: epochs(r), values: col(r.metrics, 'seconds'), color: k }))
              : [{ label: 'whole epoch', xs: epochs(runs[0]), values: col(runs[0].metrics, 'seconds') }].concat(
                  parts.map(p => ({ label: p, xs: epochs(runs[0]),
                                    values: runs[0].metrics.map(m => (m.times ? m.times[p] : null)), dash: [4, 2] }))),
        { ylabel: 'seconds', xwhy: noEpoch,
          caption: multi ? '' : 'the epoch and its parts: forward (with the loss), backward, the update, ' +
                                'the evaluations after the epoch, gathering the batches, the per-step callbacks' });

  // ---- per-layer diagnostics ----
  // opts.what names the layers the panel is about, for the reason an empty panel gives.
  function layerChart(title, key, kinds, opts) {
    const series = [];
    opts = Object.assign({}, opts);
    const off = runs.every(r => r.config && String(r.config.diagnostics_every) === '0');
    opts.xwhy = off ? 'per-layer diagnostics were off (--diagnostics-every 0)'
                    : 'no per-layer record: the run stopped before its first one';
    opts.why = 'this model has no ' + opts.what + ' layer';
    runs.forEach(r => {
      if (!r.diagnostics.length) return;
      const steps = r.diagnostics.map(d => d.step);  // this run's own steps
      r.diagnostics[0].layers.forEach((l, i) => {
        if (!kinds.includes(l.kind)) return;
        if (multi && !(i === r.first_dense || i === r.last_dense)) return;
        series.push({ label: name(r, 'L' + l.index + ' ' + l.name), xs: steps,
                      values: r.diagnostics.map(d => d.layers[i][key]) });
      });
    });
    opts.records = [].concat(...runs.map(r => r.diagnostics.map(d => d.step)));
    chart(title, 'step', null, series, opts);
  }
  // Which kinds are which: the library's registered traits, carried in the page's data.
  const kindsWith = (trait) => D.kinds.filter(k => k[trait]).map(k => k.name);
  const DENSE = ['dense'], ACT = kindsWith('activation');
  const D_ = { what: 'Dense' }, A_ = { what: 'activation' };
  layerChart('Gradient norm ‖∂L/∂W‖ per layer (log)', 'grad_norm', DENSE, { log: true, what: 'trained Dense' });
  if (!multi) {
    layerChart('Update / weight ratio per layer (log)', 'update_ratio', DENSE, { log: true, what: 'trained Dense' });
    layerChart('Weight norm ‖W‖ per layer', 'weight_norm', DENSE, D_);
    layerChart('Pre-activation z: mean', 'out_mean', DENSE.concat(['batchnorm']), D_);
    layerChart('Pre-activation z: standard deviation', 'out_std', DENSE.concat(['batchnorm']), D_);
    layerChart('Activation a: mean', 'out_mean', ACT, A_);
    layerChart('Activation a: standard deviation', 'out_std', ACT, A_);
    const RELU = kindsWith('relu_family'), SAT = kindsWith('saturating');
    layerChart('Dead units (ReLU family)', 'dead', RELU, { range: [0, 1], what: 'ReLU-family (' + RELU.join(', ') + ')' });
    layerChart('Saturated outputs (' + SAT.join(', ') + ')', 'saturated', SAT, { range: [0, 1], what: SAT.join(' or ') });
    layerChart('BatchNorm γ (mean)', 'gamma_mean', ['batchnorm'], { what: 'BatchNorm' });
    layerChart('BatchNorm β (mean)', 'beta_mean', ['batchnorm'], { what: 'BatchNorm' });
  }
  document.body.setAttribute('data-charts', String(C.drawn()));
  document.getElementById('status').textContent = C.drawn() + ' charts drawn';
})();
)JS";

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string confusion_table(const json& c) {
  if (!c.is_object() || !c.contains("matrix")) return "<p class=\"none\">no confusion matrix (no test set, or a regression)</p>";
  const json& m = c["matrix"];
  const std::size_t k = m.size();
  std::size_t total = 0, top = 1;
  for (const auto& row : m)
    for (const auto& v : row) top = std::max<std::size_t>(top, v.get<std::size_t>()), total += v.get<std::size_t>();
  std::string h = "<table class=\"confusion\"><tr><th>true \\ predicted</th>";
  auto label = [&](std::size_t i) {
    return c.contains("names") && i < c["names"].size() ? escape(c["names"][i].get<std::string>()) : std::to_string(i);
  };
  for (std::size_t j = 0; j < k; ++j) h += "<th>" + label(j) + "</th>";
  h += "</tr>";
  for (std::size_t i = 0; i < k; ++i) {
    h += "<tr><th>" + label(i) + "</th>";
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t v = m[i][j];
      const double a = static_cast<double>(v) / static_cast<double>(top);
      h += fmt::format("<td style=\"background: rgba({},{:.3f})\">{}</td>", i == j ? "44,160,44" : "214,39,40",
                       std::min(1.0, 0.08 + 0.9 * a) * (v > 0), v);
    }
    h += "</tr>";
  }
  return h + fmt::format("</table><p>{} test samples</p>", total);
}

// A whole page: the shared style, `body` (with a #charts element), the data and the page's script.
std::string page(const std::string& title, const std::string& body, const json& data, const char* script) {
  std::string payload = data.dump();
  // Inside <script>, "</" would end the element early and "<!--" change how it ends: every "<"
  // (only ever inside a JSON string) as \u003c.
  for (std::size_t p = 0; (p = payload.find('<', p)) != std::string::npos; p += 6) payload.replace(p, 1, "\\u003c");
  return "<!doctype html><html><head><meta charset=\"utf-8\">" + std::string(kPageGenerator) + "<title>" + title +
         "</title><style>" + kUplotCss +
         R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 12px; }
.chart { border: 1px solid #eee; padding: 4px; min-width: 0; }
.caption { font-size: 13px; color: #444; margin: 4px 6px; }
.none { color: #888; } .warnings li { color: #a33; margin: 4px 0; }
.held { color: #2a7d2a; } .failed { color: #b02020; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.config td, table.config th { text-align: left; }
)CSS" + "</style></head><body><h1>" + title + "</h1><p id=\"status\">drawing…</p>" + body +
         "<script type=\"application/json\" id=\"gradflow-data\">" + payload + "</script><script>" + kUplotJs +
         "</script><script>" + kChartLib + "</script><script>" + script + "</script></body></html>\n";
}

// A study page: every chart of the study with the sentence that says what it shows.
constexpr const char* kStudyScript = R"JS(
(function () {
  const D = JSON.parse(document.getElementById('gradflow-data').textContent);
  const C = gradflowCharts(document.getElementById('charts'));
  for (const c of D.charts) {
    if (c.type === 'regions') C.regions(c.title, c, c.caption);
    else C.chart(c.title, c.xlabel, c.x, c.series, { ylabel: c.ylabel, log: c.log, xlog: c.xlog, caption: c.caption });
  }
  document.body.setAttribute('data-charts', String(C.drawn()));
  document.getElementById('status').textContent = C.drawn() + ' charts drawn';
})();
)JS";

}  // namespace

void write_study_page(const nlohmann::json& study, const std::string& out) {
  std::string claims;
  for (const auto& c : study.at("claims"))
    claims += fmt::format("<li class=\"{}\">{} — {}</li>", c.at("held").get<bool>() ? "held" : "failed",
                          escape(c.at("text").get<std::string>()),
                          c.at("held").get<bool>() ? "held" : "did not hold");
  std::string table = "<table><tr>";
  for (const auto& h : study.at("table").at("columns")) table += "<th>" + escape(h.get<std::string>()) + "</th>";
  table += "</tr>";
  for (const auto& row : study.at("table").at("rows")) {
    table += "<tr>";
    for (const auto& v : row) table += "<td>" + escape(v.get<std::string>()) + "</td>";
    table += "</tr>";
  }
  table += "</table>";
  std::string settings = "<table class=\"config\">";
  for (auto& [k, v] : study.at("settings").items())
    settings += "<tr><th>" + escape(k) + "</th><td>" + escape(v.dump()) + "</td></tr>";
  settings += "</table>";
  const std::string title = fmt::format("gradflow study {}{}", study.at("study").get<std::string>(),
                                        study.at("quick").get<bool>() ? " (quick)" : "");
  const std::string body = "<p>" + escape(study.at("question").get<std::string>()) + "</p><h2>What was claimed, and "
                           "what happened</h2><ul>" + claims + "</ul><p>" + escape(study.at("finding").get<std::string>()) +
                           "</p><h2>Table</h2>" + table + "<h2>Plots</h2><div id=\"charts\"></div><h2>Settings</h2>" +
                           settings;
  write_file_atomic(out, page(title, body, study, kStudyScript));
}

RunRecords read_run(const std::string& run) {
  const fs::path dir(run);
  if (!fs::is_directory(dir)) throw std::runtime_error(fmt::format("'{}' is not a run folder", run));
  const RunFolder folder(run);
  return {dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string(),
          folder.read_config(), folder.read_metrics(), folder.read_diagnostics(), folder.read_confusion()};
}

std::string report_html(const std::vector<RunRecords>& runs) {
  if (runs.empty()) throw std::invalid_argument("no runs given");
  json data{{"runs", json::array()}, {"kinds", json::array()}};
  for (const LayerKindInfo& k : layer_kinds())
    data["kinds"].push_back({{"name", k.name},
                             {"activation", (k.traits & kActivation) != 0},
                             {"relu_family", (k.traits & kReluFamily) != 0},
                             {"saturating", (k.traits & kSaturating) != 0}});
  std::string warnings_html, config_html, confusion_html;
  for (const RunRecords& run : runs) {
    json r{{"name", run.name}, {"config", run.config}, {"metrics", run.metrics}, {"diagnostics", run.diagnostics},
           {"confusion", run.confusion}};
    int first = -1, last = -1;
    if (!r["diagnostics"].empty())
      for (std::size_t i = 0; i < r["diagnostics"][0]["layers"].size(); ++i)
        if (r["diagnostics"][0]["layers"][i]["kind"] == "dense") {
          if (first < 0) first = static_cast<int>(i);
          last = static_cast<int>(i);
        }
    r["first_dense"] = first;
    r["last_dense"] = last;
    const std::string title = runs.size() > 1 ? "<h3>" + escape(run.name) + "</h3>" : "";
    std::string w;
    for (const auto& m : r["metrics"])
      if (m.contains("warnings"))
        for (const auto& text : m["warnings"]) w += "<li>epoch " + m["epoch"].dump() + ": " + escape(text.get<std::string>()) + "</li>";
    warnings_html += title + (w.empty() ? "<p class=\"none\">no warnings</p>" : "<ul class=\"warnings\">" + w + "</ul>");
    std::string cfg;
    if (r["config"].is_object())
      for (auto& [k, v] : r["config"].items()) cfg += "<tr><th>" + escape(k) + "</th><td>" + escape(v.dump()) + "</td></tr>";
    config_html += title + "<table class=\"config\">" + cfg + "</table>";
    confusion_html += title + confusion_table(r["confusion"]);
    data["runs"].push_back(std::move(r));
  }
  const std::string title = runs.size() > 1 ? fmt::format("gradflow: {} runs compared", runs.size())
                                            : "gradflow run " + escape(runs[0].name);
  return page(title, "<h2>Curves and layers</h2><div id=\"charts\"></div><h2>Warnings</h2>" + warnings_html +
                         "<h2>Confusion matrix</h2>" + confusion_html + "<h2>Configuration</h2>" + config_html,
              data, kScript);
}

void write_report(const std::vector<std::string>& runs, const std::string& out) {
  if (runs.empty()) throw std::invalid_argument("no run folders given");
  for (const std::string& run : runs)
    if (!fs::is_directory(run)) throw std::runtime_error(fmt::format("'{}' is not a run folder", run));
  const fs::path folder = fs::absolute(out).parent_path();
  if (!fs::is_directory(folder))
    throw std::runtime_error(fmt::format("cannot write {}: the folder {} does not exist", out, folder.string()));
  if (fs::is_directory(out)) throw std::runtime_error(fmt::format("cannot write {}: it is a folder", out));
  std::vector<RunRecords> records;
  for (const std::string& run : runs) records.push_back(read_run(run));
  write_file_atomic(out, report_html(records));
}

}  // namespace gradflow::app
