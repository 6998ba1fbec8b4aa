"""The command line's pages from Python: a fit's Report (inline in Jupyter, drawn by headless
Chromium with every chart and no JavaScript error), the report of CLI run folders, the studies."""
import os
import re
import subprocess
import warnings

import numpy as np
import pytest

import gradflow as gf

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")


def render(page, profile):
    """The DOM after the page's scripts ran, in Debian's headless Chromium kept off the network."""
    assert os.path.exists("/usr/bin/chromium"), "Debian's chromium is not installed (scripts/test.sh installs it)"
    out = subprocess.run(["timeout", "120", "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                          "--dump-dom", f"file://{page}"], capture_output=True, text=True)
    return out.stdout


def spirals_fit(**kw):
    X, y = gf.data.spirals(400, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(32), gf.nn.relu(), gf.nn.dense(32), gf.nn.tanh(), gf.nn.dense(2),
                            gf.nn.softmax()], seed=4)
    return gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam", lr=0.01), X, y, epochs=6, num_classes=2,
                  **kw)


def test_a_fits_report_is_the_clis_page_and_shows_inline(tmp_path):
    result = spirals_fit(diagnostics_every=5, schedule="step:2:0.5")
    # Each epoch's own learning rate (a schedule changes it between epochs).
    assert [h["lr"] for h in result["history"]] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    report = result["report"]
    inline = report._repr_html_()
    assert inline.startswith("<iframe srcdoc=\"<!doctype html>") and "&quot;" in inline
    page = report.html()
    for external in ('src="http', 'href="http', 'src="//', "import("):
        assert external not in page  # self-contained: opens offline
    # the settings table: the recipe as config.json holds it, the data as fit got it
    assert "<th>data</th><td>&quot;arrays from Python (X [800, 2])&quot;</td>" in page
    assert "<th>schedule</th><td>&quot;step:2:0.5&quot;</td>" in page
    assert "<title>gradflow run gradflow.fit</title>" in page
    path = str(tmp_path / "report.html")
    report.save(path)
    dom = render(path, tmp_path / "profile")
    assert 'data-errors="' not in dom, "JavaScript errors in the report"
    charts = int(re.search(r'data-charts="(\d+)"', dom).group(1))
    assert charts >= 10 and dom.count("<canvas") >= charts  # curves and per-layer diagnostics, all drawn


def test_the_inline_report_takes_its_contents_height(tmp_path):
    """In a notebook the frame grows to the page, so every per-layer chart shows without scrolling inside it."""
    inline = spirals_fit(diagnostics_every=5)["report"]._repr_html_()
    page = tmp_path / "notebook.html"
    page.write_text("<!doctype html><html><body>" + inline + "</body></html>")
    dom = render(str(page), tmp_path / "profile")
    height = int(re.search(r'<iframe[^>]*style="[^"]*height: (\d+)px', dom).group(1))
    assert height > 2000, height  # 15 charts in two columns; the frame was 900 px


def test_without_diagnostics_the_report_has_the_curves():
    page = spirals_fit(diagnostics_every=0)["report"].html()
    assert "<th>diagnostics_every</th><td>&quot;0&quot;</td>" in page


def test_report_of_cli_runs_and_of_an_estimator(tmp_path):
    for name in ("a", "b"):
        subprocess.run([CLI, "train", "--data", "moons", "--layers", "8:relu", "--epochs", "2", "--no-report", "--out",
                        str(tmp_path / name)], check=True, capture_output=True)
    out = gf.report([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "compare.html"))
    assert "2 runs compared" in open(out).read()
    with pytest.raises(RuntimeError, match="is not a run folder"):
        gf.report([str(tmp_path / "none")], str(tmp_path / "x.html"))

    from sklearn.datasets import load_iris
    from gradflow.sklearn import GradflowClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = GradflowClassifier(max_iter=3, diagnostics_every=2).fit(*load_iris(return_X_y=True))
    assert "GradflowClassifier" not in clf.report().html()  # the library's page, with the fit's settings
    assert clf.report()._repr_html_().startswith("<iframe")


def test_a_study_runs_from_python_with_its_page(tmp_path):
    names = [s["name"] for s in gf.studies()]
    assert names[0] == "xor" and "batchnorm" in names and all(s["claim"] for s in gf.studies())
    study = gf.run_study("xor", quick=True, out=str(tmp_path / "xor"))
    assert study.results["claims"] and all(c["held"] == c["expected"] for c in study.results["claims"])
    assert study._repr_html_().startswith("<iframe") and "XOR" in study.html()
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        gf.run_study("nope", quick=True)
