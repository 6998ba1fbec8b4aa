// The command line's pages from Python: a fit's report (curves, per-layer diagnostics, warnings)
// and the lecture's studies, each also shown inline in Jupyter — the same self-contained HTML
// as `gradflow report` and `gradflow study` write (src/runs/report.cpp, src/studies/), offline.
#include "bind_report.h"

#include <pybind11/stl.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "runs/board.h"
#include "runs/report.h"
#include "runs/run_folder.h"
#include "studies/study.h"
#include "gradflow/model_file.h"
#include "without_gil.h"

namespace gradflow::python {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A page inside an iframe: its scripts and styles stay its own, and it works offline. The frame
// takes the page's height once drawn (a srcdoc frame is same-origin), so every chart shows
// without scrolling inside it; 900 px until then, or where the notebook forbids scripts.
std::string inline_html(const std::string& page) {
  std::string escaped;
  escaped.reserve(page.size() + page.size() / 8);
  for (char c : page) {
    if (c == '&') escaped += "&amp;";
    else if (c == '"') escaped += "&quot;";
    else escaped += c;
  }
  return fmt::format("<iframe srcdoc=\"{}\" style=\"width: 100%; height: 900px; border: 0\" onload=\"{}\"></iframe>",
                     escaped,
                     "const f = this; const fit = () => { const d = f.contentDocument; if (d &amp;&amp; d.body) "
                     "f.style.height = (d.documentElement.scrollHeight + 20) + 'px'; }; fit(); setTimeout(fit, 300);");
}

}  // namespace

// The page from the records in memory, as `gradflow report` draws a run folder holding them.
std::string FitReport::html() const {
  runs::RunRecords run;
  run.name = "gradflow.fit";
  run.config = config;
  run.model = model;
  for (std::size_t i = 0; i < history.size(); ++i)
    run.metrics.push_back(nlohmann::json(runs::metrics_record(history[i], lrs.at(i), warnings.at(i))));
  for (const DiagnosticsRecord& r : records) run.diagnostics.push_back(nlohmann::json(runs::diagnostics_record(r)));
  return runs::report_html({run});
}

void FitReport::write(const std::string& out) const { write_file_atomic(out, html()); }

namespace {
// gradflow.board's server, serving in a thread of its own (it never touches Python).
struct BoardHandle {
  std::unique_ptr<runs::Board> board;
  std::thread thread;
  bool stopped = false;
  ~BoardHandle() { stop(); }
  void stop() {
    if (!board || stopped) return;
    board->stop();
    if (thread.joinable()) thread.join();
    stopped = true;
  }
};
}  // namespace

void bind_report(py::module_& m) {
  py::class_<BoardHandle, std::shared_ptr<BoardHandle>>(
      m, "Board", "A running gradflow board (gradflow.board): its url; stop() ends it (so does dropping it).")
      .def_property_readonly("url", [](const BoardHandle& b) { return b.board ? b.board->url() : std::string(); })
      .def("stop", &BoardHandle::stop)
      .def("__repr__", [](const BoardHandle& b) { return fmt::format("Board({}{})", b.board->url(), b.stopped ? ", stopped" : ""); })
      .def("_repr_html_", [](const BoardHandle& b) {
        return fmt::format("<iframe src=\"{}\" style=\"width: 100%; height: 900px; border: 0\"></iframe>", b.board->url());
      });
  m.def(
      "board",
      [](const std::vector<std::string>& folders, const std::string& host, int port) {
        auto b = std::make_shared<BoardHandle>();
        b->board = std::make_unique<runs::Board>(runs::BoardOptions{.folders = folders, .host = host, .port = port});
        if (!runs::is_loopback(host) &&
            PyErr_WarnEx(PyExc_RuntimeWarning,
                         fmt::format("gradflow.board listens on {}: the runs become visible on the network", host).c_str(),
                         1) != 0)
          throw py::error_already_set();
        b->thread = std::thread([board = b->board.get()] { board->serve(); });
        return b;
      },
      py::arg("folders") = std::vector<std::string>{"runs"}, py::arg("host") = "127.0.0.1", py::arg("port") = 0,
      "Starts `gradflow board` over run folders in the background and returns it: .url, .stop(); shown inline in "
      "Jupyter. port 0: a free one.");
  py::class_<FitReport>(m, "Report",
                        "What fit recorded, as `gradflow report` draws it: loss and accuracy curves, learning rate, "
                        "per-layer diagnostics (with diagnostics_every > 0), warnings, the settings. Shown inline in "
                        "Jupyter; save(path) writes the self-contained page.")
      .def("html", &FitReport::html, "The page (one self-contained HTML file: opens offline).")
      .def("save", &FitReport::write, py::arg("path"), "Writes the page to path (atomically).")
      .def_property_readonly(
          "config", [](const FitReport& r) { return py::module_::import("json").attr("loads")(r.config.dump()); },
          "The recipe the fit ran, as a CLI run's config.json holds it (`gradflow train --config` reads it).")
      .def("_repr_html_", [](const FitReport& r) { return inline_html(r.html()); });

  m.def(
      "report",
      [](const std::vector<std::string>& runs, const std::string& out) {
        runs::write_report(runs, out);
        return out;
      },
      py::arg("runs"), py::arg("out"),
      "Writes the report page of CLI run folders (several: compared on the same plots), as `gradflow report` / "
      "`gradflow compare`; returns out.");

  m.def("studies", [] {
    py::list out;
    for (const runs::Study& s : runs::studies()) out.append(py::dict(py::arg("name") = s.name, py::arg("claim") = s.claim));
    return out;
  }, "The lecture's claims that run_study puts to the test: [{name, claim}].");

  py::class_<StudyResult>(m, "StudyResult", "A study's results (results.json) and its page, shown inline in Jupyter.")
      .def_readonly("results", &StudyResult::results)
      .def_readonly("folder", &StudyResult::folder)
      .def("html", [](const StudyResult& s) { return read_file(fs::path(s.folder) / "report.html"); })
      .def("_repr_html_", [](const StudyResult& s) {
        return inline_html(read_file(fs::path(s.folder) / "report.html"));
      });
  m.def(
      "run_study",
      [](const std::string& name, bool quick, const std::string& out, int threads) {
        const runs::StudyOptions o{.quick = quick, .out = out.empty() ? fmt::format("studies/{}", name) : out,
                                  .threads = threads};
        {
          WithoutGil released;
          runs::run_study(name, o);
        }
        return StudyResult{py::module_::import("json").attr("loads")(read_file(fs::path(o.out) / "results.json")),
                           o.out};
      },
      py::arg("name"), py::kw_only(), py::arg("quick") = false, py::arg("out") = "", py::arg("threads") = 0,
      "Runs one of the lecture's studies (studies() lists them) as `gradflow study NAME` does: fixed seeds, "
      "results.json and report.html written into out (default studies/NAME). quick: the seconds-long form. "
      "Returns a StudyResult: results (results.json as dicts and lists), folder, html().");
}

}  // namespace gradflow::python
