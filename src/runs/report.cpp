#include "runs/report.h"
#include "runs/output_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>
#include "gradflow/detail/json_depth.h"
#include <nlohmann/json.hpp>

#include "gradflow/model.h"
#include "gradflow/model_file.h"
#include "runs/run_folder.h"
#include "gradflow/layer_kinds.h"

namespace gradflow::runs {

extern const char* const kUplotJs;
extern const char* const kUplotCss;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The chart library every page shares: gradflowCharts(container) returns chart() (a uPlot line
// chart, empty panels saying why), regions() (a 2-D map of a classifier's decisions, on a
// canvas), drawn() and finish() (drawn(), after removing an earlier drawing's unused panels).
// A page marks its body with data-charts (how many were drawn) or
// data-errors when something failed.
constexpr const char* kChartLib = R"JS(
window.gradflowErrors = [];
window.addEventListener('error', (e) => {
  window.gradflowErrors.push(String(e.message));
  document.body.setAttribute('data-errors', window.gradflowErrors.join(' | '));
});
window.gradflowCharts = function (grid) {
  // 20 categorical colours (runs, study series): no two alike within 20 series.
  const palette = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf',
                   '#aec7e8','#ff9896','#98df8a','#ffbb78','#c5b0d5','#c49c94','#f7b6d2','#393b79','#637939','#843c39'];
  // Layers by depth: a ramp from dark purple (input side) through blue and green to orange (output
  // side), every step readable on white.
  const ramp = [[68,1,84],[59,82,139],[33,145,140],[60,160,60],[230,120,20]];
  const depthColor = (i, n) => {
    const t = n > 1 ? i / (n - 1) : 0, k = Math.min(ramp.length - 2, Math.floor(t * (ramp.length - 1)));
    const f = t * (ramp.length - 1) - k, c = ramp[k].map((v, j) => Math.round(v + f * (ramp[k + 1][j] - v)));
    return 'rgb(' + c.join(',') + ')';
  };
  const colorOf = (s, i) => typeof s.color === 'string' ? s.color : palette[(s.color !== undefined ? s.color : i) % palette.length];
  let drawn = 0;
  // Tick labels with just enough digits to tell the ticks apart (a nearly constant series, such
  // as a learning rate without schedule, would otherwise show the same label on every tick).
  const text = (v, p) => v == null ? '' : (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-4))
                                          ? v.toExponential(Math.max(0, p - 1)) : String(+v.toPrecision(p));
  const distinct = (box, key) => (u, vs) => {
    let labels = vs.map(v => text(v, 10));
    for (let p = 2; p <= 10; p++) {
      const l = vs.map(v => text(v, p));
      if (new Set(l).size === l.length) { labels = l; break; }
    }
    box.dataset[key] = JSON.stringify(labels);
    return labels;
  };
  const logTicks = (box) => (u, vs) => {
    const labels = vs.map(v => v == null ? '' : (v >= 0.01 && v < 1000 ? String(+v.toPrecision(2)) : v.toExponential(0)));
    box.dataset.logticks = JSON.stringify(labels);
    delete box.dataset.yticks;
    return labels;
  };
  // Epochs, steps and layers are counted: ticks at whole numbers only (1, 2, 5, 10, 20, …).
  const wholeSteps = [];
  for (let e = 1; e <= 1e9; e *= 10) wholeSteps.push(e, 2 * e, 5 * e);
  const wholeTicks = (box) => (u, vs) => {
    const labels = vs.map(v => v == null ? '' : String(Math.round(v)));
    box.dataset.xticks = JSON.stringify(labels);
    return labels;
  };
  // Drawing into a grid that holds an earlier drawing (the board, as records grow): the k-th
  // chart takes the place of the k-th panel there, and a panel that shows the same chart (same
  // title, legend, caption) keeps its plot and only takes the new data (uPlot's setData) — a
  // rebuild costs ~100× more. finish() removes the panels left over.
  const old = [...grid.children];
  let slot = 0;
  // A panel out of view keeps its new data until it is scrolled into view (the board's page
  // shows a few of its ~15 charts at a time; drawing the others costs and shows nothing).
  if (!grid.gfSeen && window.IntersectionObserver)
    grid.gfSeen = new IntersectionObserver((entries) => entries.forEach((e) => {
      e.target.gfVisible = e.isIntersecting;
      if (e.isIntersecting && e.target.gfPending) { const p = e.target.gfPending; e.target.gfPending = null; e.target.gfUpdate(...p); }
    }));
  const drop = (box) => { if (box.gfDestroy) box.gfDestroy(); if (grid.gfSeen) grid.gfSeen.unobserve(box); };
  const panel = (title, caption) => {
    const box = document.createElement('div');
    box.className = 'chart';
    const prev = old[slot++];
    if (prev) { drop(prev); grid.replaceChild(box, prev); } else grid.appendChild(box);
    box.gfVisible = true;
    if (grid.gfSeen) grid.gfSeen.observe(box);
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
  const finite = (v) => v !== null && v !== undefined && isFinite(v);
  // A log axis where the values span more than two decades (opts.log 'auto'), as asked (true,
  // false) otherwise; possible only without negative values.
  function chooseLog(series, want) {
    const vs = [].concat(...series.map(s => s.values)).filter(finite);
    const positive = vs.filter(v => v > 0);
    const possible = positive.length > 0 && vs.every(v => v >= 0);
    if (want !== 'auto') return { log: !!want && possible, possible };
    return { log: possible && Math.max(...positive) > 100 * Math.min(...positive), possible };
  }
  // An empty panel says why it is empty (opts.why), not just "no data". xs null: every series
  // brings its own (align). opts: ylabel, log (true, false, 'auto'), range, caption, xint (whole
  // x ticks), xlog, why, xwhy, records.
  function chart(title, xlabel, xs, series, opts) {
    opts = opts || {};
    if (xs === null) ({ xs, series } = series.length ? align(series) : { xs: opts.records || [], series: [] });
    let usable = series.filter(s => s.values.some(finite));
    const empty = !xs.length || !usable.length;
    const why = !xs.length && opts.xwhy ? opts.xwhy : (opts.why || 'no finite values were recorded');
    const key = JSON.stringify([title, xlabel, opts.caption || '', empty ? why : usable.map((s, i) => [s.label, colorOf(s, i), s.dash])]);
    const prev = old[slot];
    if (prev && prev.dataset.key === key) {
      slot++;
      if (!empty) {
        if (prev.gfVisible) prev.gfUpdate(xs, usable); else prev.gfPending = [xs, usable];
        drawn++;
      }
      return;
    }
    const box = panel(title, opts.caption);
    box.dataset.key = key;
    if (empty) {
      box.insertAdjacentHTML('afterbegin', '<h3>' + title + '</h3><p class="none">no data: ' + why + '</p>');
      box.dataset.empty = why;
      return;
    }
    let { log, possible } = chooseLog(usable, opts.log === undefined ? false : opts.log), toggled = false;
    const width = Math.max(320, Math.floor(box.getBoundingClientRect().width) - 10);
    box.dataset.width = String(width);
    const note = document.createElement('p');
    note.className = 'caption zeros';
    let plot = null, shape = '', relabel = () => {};
    const draw = () => {
      // On a log axis an exact 0 has no place: drawn at the axis floor, and the panel says so.
      const positive = [].concat(...usable.map(s => s.values)).filter(v => finite(v) && v > 0);
      const floor = positive.length ? Math.pow(10, Math.floor(Math.log10(Math.min(...positive))) - 1) : 1;
      let zeros = 0;
      const clean = (v) => !finite(v) ? null : (log && v <= 0 ? (zeros++, floor) : v);
      const data = [xs].concat(usable.map(s => s.values.map(clean)));
      box.dataset.x = JSON.stringify([xs[0], xs[xs.length - 1]]);
      box.dataset.legend = JSON.stringify(usable.map(s => s.label));
      box.dataset.log = log ? '1' : '0';
      box.dataset.zeros = String(zeros);
      note.textContent = zeros ? zeros + ' value(s) of exactly 0 drawn at the axis floor (' + floor.toExponential(0) + ')' : '';
      box.dataset.lastx = JSON.stringify(data.slice(1).map(v => xs[v.reduce((last, y, i) => (y === null ? last : i), 0)]));
      // The same axes and markers: the plot takes the new data in place.
      const now = JSON.stringify([log, xs.length < 40]);
      if (plot && now === shape) { plot.setData(data); return; }
      shape = now;
      const xaxis = { label: xlabel };
      if (opts.xint) Object.assign(xaxis, { incrs: wholeSteps, values: wholeTicks(box) });
      if (plot) plot.destroy();
      plot = new uPlot({
        title: title, width: width, height: 300, legend: { live: false },
        scales: { x: { time: false, distr: opts.xlog ? 3 : 1 },
                  y: log ? { distr: 3 } : (opts.range ? { range: opts.range } : {}) },
        axes: [xaxis, { label: opts.ylabel || '', size: 60, values: log ? logTicks(box) : distinct(box, 'yticks') }],
        series: [{ label: xlabel }].concat(usable.map((s, i) => ({
          label: s.label, stroke: colorOf(s, i), width: s.width || 1.5, dash: s.dash,
          spanGaps: true, points: { show: xs.length < 40 } })))
      }, data, (u, init) => { box.insertBefore(u.root, box.firstChild); init(); });
    };
    draw();
    box.gfDestroy = () => plot.destroy();
    // New records: an 'auto' axis chooses again unless the reader switched it.
    box.gfUpdate = (nx, nu) => {
      xs = nx;
      usable = nu;
      if (!toggled) log = chooseLog(usable, opts.log === undefined ? false : opts.log).log;
      relabel();
      draw();
    };
    box.appendChild(note);
    if (possible) {  // switch between log and linear
      const b = document.createElement('button');
      b.className = 'scale';
      relabel = () => { b.textContent = log ? 'linear scale' : 'log scale'; };
      relabel();
      b.onclick = () => { log = !log; toggled = true; relabel(); draw(); };
      box.appendChild(b);
    }
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
  // The panels of an earlier drawing that this one did not use.
  const finish = () => { old.slice(slot).forEach(box => { drop(box); box.remove(); }); slot = old.length; return drawn; };
  return { chart, regions, depthColor, drawn: () => drawn, finish };
};
)JS";

// The charts of runs (report, compare and the board's live view): gradflowDrawRuns(D, grid)
// draws curves per epoch and per-layer diagnostics of D.runs into grid; returns how many.
constexpr const char* kRunCharts = R"JS(
window.gradflowDrawRuns = function (D, grid) {
  const C = gradflowCharts(grid);
  const chart = C.chart;
  const epochs = (run) => run.metrics.map(m => m.epoch);
  const col = (rows, key) => rows.map(r => (r[key] === undefined ? null : r[key]));
  const runs = D.runs;
  const multi = runs.length > 1;
  const name = (r, s) => multi ? r.name + ' ' + s : s;
  const has = (r, key) => r.metrics.some(m => m[key] !== undefined && m[key] !== null);
  const regression = runs.every(r => r.metrics.length && !['train_acc', 'val_acc', 'test_acc'].some(k => has(r, k)));

  // ---- curves per epoch ----
  // Train solid, validation dotted, test dashed; in a comparison each run keeps one colour in
  // every chart. Each run on its own epochs: runs of different lengths are drawn whole.
  const SET = { train: ['train', undefined, 0], val: ['validation', [2, 3], 2], test: ['test', [6, 3], 1] };
  const curves = (key, sets) => [].concat(...runs.map((r, k) => sets.filter(set => has(r, set + '_' + key)).map(set => (
    { label: name(r, SET[set][0]), xs: epochs(r), values: col(r.metrics, set + '_' + key), dash: SET[set][1],
      color: multi ? k : SET[set][2] }))));
  const E = (o) => Object.assign({ xint: true, xwhy: 'no epoch finished' }, o);
  chart('Loss', 'epoch', null, curves('loss', ['train', 'val', 'test']), E({ ylabel: 'loss', log: 'auto' }));
  if (regression) {
    const why = 'R² and MAE are measured on a validation or test set, and this run had neither';
    // From −1 up: an early epoch's R² of −30 would flatten the rest to a line.
    const r2 = curves('r2', ['val', 'test']), low = Math.min(...[].concat(...r2.map(s => s.values)).filter(v => v !== null));
    chart('R² (1: perfect; 0: no better than the mean)', 'epoch', null, r2,
          E({ ylabel: 'R²', why, range: low < -1 ? [-1, 1] : undefined,
              caption: low < -1 ? 'the axis starts at −1: lower values (down to ' + low.toPrecision(3) + ') lie below it' : '' }));
    chart('Mean absolute error', 'epoch', null, curves('mae', ['val', 'test']), E({ ylabel: 'MAE', log: 'auto', why }));
  } else {
    chart('Accuracy', 'epoch', null, curves('acc', ['train', 'val', 'test']), E({ ylabel: 'accuracy' }));
  }
  chart('Learning rate', 'epoch', null,
        runs.map((r, k) => ({ label: name(r, 'lr'), xs: epochs(r), values: col(r.metrics, 'lr'), color: k })),
        E({ ylabel: 'lr', log: 'auto' }));
  // Where each epoch's time went (EpochMetrics::times); a comparison shows each run's whole epoch.
  const parts = ['forward', 'backward', 'update', 'evaluate', 'gather', 'callbacks'];
  chart('Time per epoch', 'epoch', null,
        multi ? runs.map((r, k) => ({ label: name(r, 'epoch'), xs: epochs(r), values: col(r.metrics, 'seconds'), color: k }))
              : [{ label: 'whole epoch', xs: epochs(runs[0]), values: col(runs[0].metrics, 'seconds'), width: 2.5 }].concat(
                  parts.map((p, i) => ({ label: p, xs: epochs(runs[0]), color: i + 1, dash: [4, 2],
                                         values: runs[0].metrics.map(m => (m.times ? m.times[p] : null)) }))),
        E({ ylabel: 'seconds', caption: multi ? '' : 'the epoch and its parts: forward (with the loss), backward, the ' +
                                                     'update, the evaluations after the epoch, gathering the batches, ' +
                                                     'the per-step callbacks' }));

  // ---- per-layer diagnostics ----
  const off = runs.every(r => r.config && String(r.config.diagnostics_every) === '0');
  const xwhy = off ? 'per-layer diagnostics were off (--diagnostics-every 0)'
                   : 'no per-layer record: the run stopped before its first one';
  const denseOf = (r) => r.diagnostics.length ? r.diagnostics[0].layers.map((l, i) => i).filter(i =>
    r.diagnostics[0].layers[i].kind === 'dense' && r.diagnostics.some(d => d.layers[i].grad_norm !== undefined && d.layers[i].grad_norm !== null)) : [];
  // Gradient by depth: each Dense layer's gradient norm over the last one's, at a few moments —
  // a line falling toward the input (left) is a vanishing gradient, rising an exploding one.
  const moments = (n) => [...new Set([0, Math.round((n - 1) / 4), Math.round((n - 1) / 2), n - 1])];
  const depth = [].concat(...runs.map((r, k) => {
    const dense = denseOf(r);
    if (dense.length < 2) return [];
    const at = multi ? [...new Set([0, r.diagnostics.length - 1])] : moments(r.diagnostics.length);
    return at.map((j, m) => {
      const d = r.diagnostics[j], last = d.layers[dense[dense.length - 1]].grad_norm;
      return { label: name(r, 'step ' + d.step + ' (epoch ' + d.epoch + ')'), xs: dense.map((_, q) => q + 1),
               values: dense.map(i => (last > 0 && d.layers[i].grad_norm !== null ? d.layers[i].grad_norm / last : null)),
               color: multi ? k : C.depthColor(m, at.length), dash: multi && m === 0 ? [4, 2] : undefined };
    });
  }));
  chart('Gradient by depth: ‖∂L/∂W‖ ÷ the last layer\'s', 'Dense layer (1 = input side)', null, depth,
        { log: true, xint: true, ylabel: 'relative gradient norm', xwhy,
          records: [].concat(...runs.map(r => r.diagnostics.map(d => d.step))),
          why: 'it needs per-layer records of two or more trained Dense layers',
          caption: 'each trained Dense layer\'s weight-gradient norm divided by the last one\'s, at ' +
                   (multi ? 'the first and last record of each run (first dashed)' : 'four moments of training (dark: early)') +
                   ': falling toward the input (left) is a vanishing gradient, rising an exploding one; a healthy net ' +
                   'stays within about 0.1–10' });
  // opts.what names the layers the panel is about, for the reason an empty panel gives. One
  // colour per depth (dark: input side); in a comparison, each run's colour, first Dense dashed.
  function layerChart(title, key, kinds, opts) {
    const series = [];
    opts = Object.assign({ xint: true, xwhy, why: 'this model has no ' + opts.what + ' layer' }, opts);
    runs.forEach((r, k) => {
      if (!r.diagnostics.length) return;
      const steps = r.diagnostics.map(d => d.step);  // this run's own steps
      const dense = denseOf(r);
      const picked = r.diagnostics[0].layers.map((l, i) => i).filter(i => kinds.includes(r.diagnostics[0].layers[i].kind) &&
        (!multi || i === dense[0] || i === dense[dense.length - 1]));
      picked.forEach((i, q) => {
        const l = r.diagnostics[0].layers[i];
        series.push({ label: name(r, 'L' + l.index + ' ' + l.name), xs: steps, values: r.diagnostics.map(d => d.layers[i][key]),
                      color: multi ? k : C.depthColor(q, picked.length), dash: multi && i === dense[0] ? [4, 2] : undefined });
      });
    });
    opts.records = [].concat(...runs.map(r => r.diagnostics.map(d => d.step)));
    chart(title, 'step', null, series, opts);
  }
  // Which kinds are which: the library's registered traits, carried in the page's data.
  const kindsWith = (trait) => D.kinds.filter(k => k[trait]).map(k => k.name);
  const DENSE = ['dense'], ACT = kindsWith('activation');
  const D_ = { what: 'Dense' }, A_ = { what: 'activation' };
  layerChart('Gradient norm ‖∂L/∂W‖ per layer', 'grad_norm', DENSE, { log: true, what: 'trained Dense' });
  if (!multi) {
    layerChart('Update / weight ratio per layer', 'update_ratio', DENSE, { log: true, what: 'trained Dense' });
    layerChart('Weight norm ‖W‖ per layer', 'weight_norm', DENSE, Object.assign({ log: 'auto' }, D_));
    layerChart('Pre-activation z: mean', 'out_mean', DENSE.concat(['batchnorm']), D_);
    layerChart('Pre-activation z: standard deviation', 'out_std', DENSE.concat(['batchnorm']), Object.assign({ log: 'auto' }, D_));
    layerChart('Activation a: mean', 'out_mean', ACT, A_);
    layerChart('Activation a: standard deviation', 'out_std', ACT, Object.assign({ log: 'auto' }, A_));
    const RELU = kindsWith('relu_family'), SAT = kindsWith('saturating');
    layerChart('Dead units (ReLU family)', 'dead', RELU, { range: [0, 1], what: 'ReLU-family (' + RELU.join(', ') + ')' });
    layerChart('Saturated outputs (' + SAT.join(', ') + ')', 'saturated', SAT, { range: [0, 1], what: SAT.join(' or ') });
    layerChart('BatchNorm γ (mean)', 'gamma_mean', ['batchnorm'], { what: 'BatchNorm' });
    layerChart('BatchNorm β (mean)', 'beta_mean', ['batchnorm'], { what: 'BatchNorm' });
  }
  return C.drawn();
};
)JS";

// A run page (report and compare): its runs' charts, drawn once.
constexpr const char* kScript = R"JS(
(function () {
  const D = JSON.parse(document.getElementById('gradflow-data').textContent);
  const drawn = gradflowDrawRuns(D, document.getElementById('charts'));
  document.body.setAttribute('data-charts', String(drawn));
  document.getElementById('status').textContent = drawn + ' charts drawn';
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

// ---- the headline: the answer first ----
bool has_key(const json& metrics, const std::string& key) {
  return std::any_of(metrics.begin(), metrics.end(), [&](const json& m) { return m.contains(key) && m[key].is_number(); });
}

// "90.74%" for an accuracy, "0.9016" for an R², "0.2700" for a loss.
std::string metric_text(const std::string& key, double v) {
  return key == "acc" ? fmt::format("{:.2f}%", 100 * v) : fmt::format("{:.4g}", v);
}

// What a run reached: on the test set (else validation, else training), its accuracy (R² for a
// regression; the loss alone for other losses) at the last epoch and at its best epoch.
struct Outcome {
  std::string set, key, what;  // "test", "acc", "test accuracy"
  double final = NAN, loss = NAN, best = NAN, best_val = NAN, seconds = 0;
  std::size_t epochs = 0, best_epoch = 0, best_val_epoch = 0, warnings = 0;
  std::string best_val_what;
};

Outcome outcome(const RunRecords& run) {
  Outcome o;
  const json& ms = run.metrics;
  o.epochs = ms.size();
  for (const json& m : ms) {
    o.seconds += m.value("seconds", 0.0);
    if (m.contains("warnings")) o.warnings += m["warnings"].size();
  }
  if (ms.empty()) return o;
  const bool regression = !has_key(ms, "train_acc") && !has_key(ms, "test_acc") && !has_key(ms, "val_acc");
  o.set = has_key(ms, "test_loss") ? "test" : has_key(ms, "val_loss") ? "val" : "train";
  o.key = regression ? (has_key(ms, o.set + "_r2") ? "r2" : "loss") : "acc";
  const std::string names[] = {o.set == "val" ? "validation" : o.set, o.key == "acc" ? "accuracy" : o.key == "r2" ? "R²" : "loss"};
  o.what = names[0] + " " + names[1];
  const auto value = [](const json& m, const std::string& k) { return m.contains(k) && m[k].is_number() ? m[k].get<double>() : NAN; };
  o.final = value(ms.back(), o.set + "_" + o.key);
  o.loss = value(ms.back(), o.set + "_loss");
  const bool higher = o.key != "loss";
  for (const json& m : ms) {
    const double v = value(m, o.set + "_" + o.key);
    if (!std::isnan(v) && (std::isnan(o.best) || (higher ? v > o.best : v < o.best))) o.best = v, o.best_epoch = m.value("epoch", 0);
    const std::string vk = o.key == "loss" ? "val_loss" : "val_" + o.key;
    const double w = value(m, vk);
    if (o.set != "val" && !std::isnan(w) && (std::isnan(o.best_val) || (higher ? w > o.best_val : w < o.best_val)))
      o.best_val = w, o.best_val_epoch = m.value("epoch", 0);
  }
  o.best_val_what = "validation " + names[1];
  return o;
}

std::string model_text(const RunRecords& run) {
  if (!run.model.is_object()) return "";
  return fmt::format("model {} · {} parameters", escape(run.model.value("summary", "")),
                     run.model.value("parameters", std::size_t{0}));
}

std::string headline_one(const RunRecords& run) {
  const Outcome o = outcome(run);
  // What it trained on: the CLI's --data, or Python's source ("gradflow.fit (Python)").
  std::string data;
  for (const char* key : {"data", "source"})
    if (data.empty() && run.config.is_object() && run.config.contains(key))
      data = run.config[key].is_string() ? run.config[key].get<std::string>() : run.config[key].dump();
  std::string h = fmt::format("<div class=\"headline\" id=\"headline\" data-final=\"{}\">", std::isnan(o.final) ? "" : metric_text(o.key, o.final));
  if (o.epochs == 0) return h + "<p class=\"answer\">no epoch finished</p></div>";
  h += fmt::format("<p class=\"answer\">{} <b>{}</b>{} after {} epoch{} in {:.1f} s</p>", o.what, metric_text(o.key, o.final),
                   o.key == "loss" || std::isnan(o.loss) ? "" : fmt::format(" (loss {:.4g})", o.loss), o.epochs,
                   o.epochs == 1 ? "" : "s", o.seconds);
  std::string best = fmt::format("best {} {} at epoch {}", o.what, metric_text(o.key, o.best), o.best_epoch);
  if (!std::isnan(o.best_val))
    best += fmt::format(" · best {} {} at epoch {}", o.best_val_what, metric_text(o.key, o.best_val), o.best_val_epoch);
  h += "<p>" + best + "</p>";
  std::string about = data.empty() ? "" : "data " + escape(data) + " · ";
  if (const std::string model = model_text(run); !model.empty()) about += model + " · ";
  h += fmt::format("<p class=\"about\">{}<a href=\"#warnings\">{} warning{}</a></p></div>", about, o.warnings,
                   o.warnings == 1 ? "" : "s");
  return h;
}

std::string headline_table(const std::vector<RunRecords>& runs) {
  std::string h = "<table class=\"headline\" id=\"headline\"><tr><th>run</th><th>final</th><th>best (epoch)</th>"
                  "<th>best validation (epoch)</th><th>epochs</th><th>time</th><th>parameters</th><th>warnings</th></tr>";
  for (const RunRecords& run : runs) {
    const Outcome o = outcome(run);
    const auto shown = [&](double v, std::size_t e) {
      return std::isnan(v) ? std::string("-") : fmt::format("{} ({})", metric_text(o.key, v), e);
    };
    h += fmt::format("<tr data-final=\"{}\"><th>{}</th><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f} s</td>"
                     "<td>{}</td><td>{}</td></tr>",
                     std::isnan(o.final) ? "" : metric_text(o.key, o.final), escape(run.name), o.what,
                     std::isnan(o.final) ? "-" : metric_text(o.key, o.final), shown(o.best, o.best_epoch),
                     shown(o.best_val, o.best_val_epoch), o.epochs, o.seconds,
                     run.model.is_object() ? std::to_string(run.model.value("parameters", std::size_t{0})) : "-",
                     o.warnings);
  }
  return h + "</table>";
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
.headline { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 8px 14px; margin: 8px 0 16px; }
.headline p { margin: 4px 0; } .answer { font-size: 18px; } .about { color: #444; }
button.scale { font-size: 11px; margin: 2px 6px; } .zeros:empty { display: none; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.config td, table.config th { text-align: left; }
)CSS" + "</style></head><body><h1>" + title + "</h1>" + body + "<p id=\"status\" class=\"none\">drawing…</p>" +
         "<script type=\"application/json\" id=\"gradflow-data\">" + payload + "</script><script>" + kUplotJs +
         "</script><script>" + kChartLib + kRunCharts + "</script><script>" + script + "</script></body></html>\n";
}

// A study page: every chart of the study with the sentence that says what it shows.
constexpr const char* kStudyScript = R"JS(
(function () {
  const D = JSON.parse(document.getElementById('gradflow-data').textContent);
  const C = gradflowCharts(document.getElementById('charts'));
  for (const c of D.charts) {
    if (c.type === 'regions') C.regions(c.title, c, c.caption);
    else C.chart(c.title, c.xlabel, c.x, c.series, { ylabel: c.ylabel, log: c.log, xlog: c.xlog, caption: c.caption,
                                                     xint: /epoch|layer/i.test(c.xlabel) && !c.xlog });
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
  RunRecords r{dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string(),
               folder.read_config(), folder.read_metrics(), folder.read_diagnostics(), folder.read_confusion(), nullptr};
  // The network for the headline; a run stopped before its first save has none yet.
  if (const fs::path model = dir / "model.safetensors"; fs::exists(model)) {
    try {
      r.model = model_record(*read_model(model.string()).network);
    } catch (const std::exception&) {
      // (the page draws the records; the model file is `gradflow eval`'s to complain about)
    }
  }
  return r;
}

nlohmann::json model_record(const Sequential& network) {
  return {{"summary", network.outline()}, {"parameters", network.num_params()}};
}

ReportView report_view(std::vector<RunRecords> runs) {
  if (runs.empty()) throw std::invalid_argument("no runs given");
  ReportView v;
  v.headline = runs.size() > 1 ? headline_table(runs) : headline_one(runs[0]);
  v.data = json{{"runs", json::array()}, {"kinds", json::array()}};
  for (const LayerKindInfo& k : layer_kinds())
    v.data["kinds"].push_back({{"name", k.name},
                               {"activation", (k.traits & kActivation) != 0},
                               {"relu_family", (k.traits & kReluFamily) != 0},
                               {"saturating", (k.traits & kSaturating) != 0}});
  for (RunRecords& run : runs) {
    const std::string title = runs.size() > 1 ? "<h3>" + escape(run.name) + "</h3>" : "";
    std::string w;
    for (const auto& m : run.metrics)
      if (m.contains("warnings"))
        for (const auto& text : m["warnings"]) w += "<li>epoch " + m["epoch"].dump() + ": " + escape(text.get<std::string>()) + "</li>";
    v.warnings += title + (w.empty() ? "<p class=\"none\">no warnings</p>" : "<ul class=\"warnings\">" + w + "</ul>");
    std::string cfg;
    if (run.config.is_object())
      for (auto& [k, x] : run.config.items()) cfg += "<tr><th>" + escape(k) + "</th><td>" + escape(x.dump()) + "</td></tr>";
    v.config += title + "<table class=\"config\">" + cfg + "</table>";
    v.confusion += title + confusion_table(run.confusion);
    // The records are moved, not copied: a live view's records may be megabytes.
    json r = json::object();
    r["name"] = run.name;
    r["config"] = std::move(run.config);
    r["metrics"] = std::move(run.metrics);
    r["diagnostics"] = std::move(run.diagnostics);
    r["confusion"] = std::move(run.confusion);
    v.data["runs"].push_back(std::move(r));
  }
  return v;
}

std::string report_html(const std::vector<RunRecords>& runs) {
  const ReportView v = report_view(runs);
  const std::string title = runs.size() > 1 ? fmt::format("gradflow: {} runs compared", runs.size())
                                            : "gradflow run " + escape(runs[0].name);
  return page(title, v.headline + "<h2>Curves and layers</h2><div id=\"charts\"></div><h2 id=\"warnings\">Warnings</h2>" +
                         v.warnings + "<h2>Confusion matrix</h2>" + v.confusion + "<h2>Configuration</h2>" + v.config,
              v.data, kScript);
}

std::string chart_page(const std::string& title, const std::string& body, const nlohmann::json& data,
                       const std::string& script) {
  return page(title, body, data, script.c_str());
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

}  // namespace gradflow::runs
