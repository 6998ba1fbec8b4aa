"""gradflow board in a real browser: Selenium drives Debian's Chromium (chromium-driver) on the
page while a run trains — the run appears, its loss chart gains points without a reload, two
runs are drawn together, a warning raised mid-run shows — and the server answers nothing but
its page and the runs it lists."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")


@pytest.fixture
def board(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = subprocess.Popen([CLI, "board", str(runs), "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    url = re.search(r"http://\S+/", line).group(0)
    yield runs, url
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0, "Ctrl-C stops the board cleanly"


@pytest.fixture
def browser(tmp_path):
    assert os.path.exists("/usr/bin/chromedriver"), "chromium-driver is not installed (scripts/test.sh installs it)"
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def wait_for(what, condition, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {what}")


def select(driver, names):
    """Ticks exactly these runs in the list (which the page redraws every second: a row replaced
    under the click is looked up again)."""
    for _ in range(20):
        try:
            for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-run]"):
                box = row.find_element(By.TAG_NAME, "input")
                if box.is_selected() != (row.get_attribute("data-run") in names):
                    box.click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"could not tick {names}")


def body(driver, attribute):
    return driver.find_element(By.TAG_NAME, "body").get_attribute(attribute)


def test_the_board_follows_a_run_live_and_compares_two(board, browser):
    runs, url = board
    subprocess.run([CLI, "train", "--data", "moons", "--layers", "8:relu", "--epochs", "3", "--no-report", "--out",
                    str(runs / "done")], check=True, capture_output=True)
    # Long enough to watch (stopped below; tanh under N(0,1): saturated, a warning with its cause while it runs).
    training = subprocess.Popen([CLI, "train", "--data", "fashion-mnist", "--limit", "20000", "--layers",
                                 "128:tanh,128:tanh,128:tanh,128:tanh", "--init", "normal", "--epochs", "300",
                                 "--batch-size", "64", "--threads", "1", "--no-report", "--out", str(runs / "live")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # A run named in the address is drawn as soon as the page has loaded, not at its first poll.
        browser.get(url + "?run=done")
        wait_for("the named run drawn at once", lambda: body(browser, "data-shown") == "done", seconds=3)
        browser.get(url)
        load = body(browser, "data-load")
        row = wait_for("the running run in the list", lambda: browser.find_elements(
            By.CSS_SELECTOR, 'tr[data-run="live"][data-state="running"]'))
        assert row
        select(browser, {"live"})
        wait_for("the live run drawn", lambda: body(browser, "data-shown") == "live")
        first = int(wait_for("a first epoch", lambda: int(body(browser, "data-points") or 0)))
        loss = browser.find_element(By.CSS_SELECTOR, "#charts .chart")
        epochs = json.loads(loss.get_attribute("data-x"))[1]
        later = wait_for("more epochs while it trains",
                         lambda: int(body(browser, "data-points") or 0) > first and int(body(browser, "data-points")))
        assert later > first and body(browser, "data-load") == load, "the chart grew without reloading the page"
        # The loss chart took the new epochs in place: the same panel, its x axis longer.
        assert browser.find_element(By.CSS_SELECTOR, "#charts .chart") == loss
        assert json.loads(loss.get_attribute("data-x"))[1] > epochs
        assert int(body(browser, "data-charts")) >= 10
        wait_for("the saturation warning raised mid-run", lambda: "saturated" in browser.find_element(
            By.ID, "warnings").text)
        # Two runs: tick the finished one too.
        select(browser, {"live", "done"})
        wait_for("both runs drawn", lambda: set((body(browser, "data-shown") or "").split(",")) == {"live", "done"})
        assert body(browser, "data-errors") is None, body(browser, "data-errors")
        if os.environ.get("GRADFLOW_SCREENSHOTS"):  # scripts/screenshots.sh: docs/images/board.png
            browser.save_screenshot(os.path.join(os.environ["GRADFLOW_SCREENSHOTS"], "board.png"))
    finally:
        training.send_signal(signal.SIGINT)
        training.wait(timeout=30)
    # Interrupted: the list says so once the process is gone.
    try:
        wait_for("the interrupted state", lambda: browser.find_elements(
            By.CSS_SELECTOR, 'tr[data-run="live"][data-state="interrupted"]'))
    except AssertionError:
        raise AssertionError(browser.find_element(By.ID, "runs").get_attribute("outerHTML")[:2000] +
                             browser.find_element(By.ID, "status").text)
    # What the page holds, gathered from the answers' new records alone, is each file's records,
    # once each and in order.
    def records(name):
        with open(runs / name / "metrics.jsonl") as m, open(runs / name / "diagnostics.jsonl") as d:
            return [name, [json.loads(x)["epoch"] for x in m], [json.loads(x)["step"] for x in d]]
    expected = sorted([records("live"), records("done")])
    try:
        wait_for("the page's records to be the files'",
                 lambda: sorted(json.loads(body(browser, "data-records") or "[]")) == expected, seconds=30)
    except AssertionError:
        raise AssertionError(f"the page holds {body(browser, 'data-records')[:3000]}, the files {str(expected)[:3000]}")


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_board_serves_only_its_page_and_the_runs_it_lists(board, tmp_path):
    runs, url = board
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "config.json").write_text("{}")
    (tmp_path / "secret" / "metrics.jsonl").write_text("")
    os.symlink(tmp_path / "secret", runs / "link")  # a folder reached through a link out of runs/
    subprocess.run([CLI, "train", "--data", "moons", "--layers", "4:relu", "--epochs", "1", "--no-report", "--out",
                    str(runs / "a")], check=True, capture_output=True)
    import json
    listed = json.loads(urllib.request.urlopen(url + "api/runs", timeout=10).read())
    assert [r["name"] for r in listed] == ["a"] and listed[0]["state"] == "finished"
    assert status_of(url + "api/view?run=a") == 200
    for bad in ("api/view?run=../secret", "api/view?run=link", "api/view?run=%2e%2e%2fsecret",
                "api/view?run=" + str(tmp_path / "secret"), "api/view?run=a%00", "..%2f..%2fetc%2fpasswd",
                "%2e%2e/%2e%2e/etc/passwd", "runs/a/config.json", "api/view"):
        assert status_of(url + bad) in (400, 404), bad
    request = urllib.request.Request(url + "api/runs", method="DELETE")
    assert status_of(request) in (400, 404, 405)


def test_gf_board_serves_in_the_background_and_live_fits_draw_each_epoch(tmp_path, capsys):
    import json

    import gradflow as gf
    from gradflow.sklearn import GradflowClassifier
    subprocess.run([CLI, "train", "--data", "moons", "--layers", "4:relu", "--epochs", "1", "--no-report", "--out",
                    str(tmp_path / "a")], check=True, capture_output=True)
    b = gf.board([str(tmp_path)])
    try:
        assert b.url.startswith("http://127.0.0.1:") and f'src="{b.url}"' in b._repr_html_()
        assert [r["name"] for r in json.loads(urllib.request.urlopen(b.url + "api/runs", timeout=10).read())] == ["a"]
    finally:
        b.stop()
    assert "stopped" in repr(b)
    X, y = gf.data.moons(200, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(8), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=1)
    gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2, epochs=3, live=True,
           diagnostics_every=0)
    assert capsys.readouterr().out.count("gradflow.fit: epoch ") == 3  # outside a notebook: a line per epoch
    GradflowClassifier(hidden_layer_sizes=(4,), max_iter=2, live=True, random_state=0).fit(X, y.astype(int))
    assert capsys.readouterr().out.count("GradflowClassifier: epoch ") == 2
    from gradflow.live import LiveCurves
    curves = LiveCurves()
    for e in (1, 2):
        curves({"epoch": e, "train_loss": 1.0 / e, "val_loss": None})
    assert "<polyline" in curves.svg() and "epoch 2: loss 0.5000" in curves.svg()


def test_live_curves_in_a_notebook_redraw_at_most_once_a_second_and_show_the_last_epoch(monkeypatch):
    import gradflow as gf
    from gradflow import live
    from gradflow.sklearn import GradflowClassifier

    class Handle:  # IPython's display handle, as a notebook's kernel gives it
        def __init__(self):
            self.shown = []

        def update(self, h):
            self.shown.append(h.data)

    handles = []
    monkeypatch.setattr(live, "_in_notebook", lambda: True)
    monkeypatch.setattr(live, "display", lambda h, display_id: handles.append(Handle()) or handles[-1])
    curves = live.LiveCurves()
    for e in range(1, 11):  # ten epochs well within a second: the first drawn, the rest when it ends
        curves({"epoch": e, "train_loss": 1.0 / e, "val_loss": None})
    assert len(handles[-1].shown) == 1 and "epoch 1:" in handles[-1].shown[0]
    curves.flush()
    curves.flush()
    assert len(handles[-1].shown) == 2 and "epoch 10:" in handles[-1].shown[-1]
    # gf.fit and the estimators draw the last epoch as they end.
    X, y = gf.data.moons(200, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(8), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=1)
    gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2, epochs=5, live=True,
           diagnostics_every=0)
    assert "epoch 5:" in handles[-1].shown[-1]
    GradflowClassifier(hidden_layer_sizes=(4,), max_iter=4, live=True, random_state=0).fit(X, y.astype(int))
    assert "epoch 4:" in handles[-1].shown[-1]
