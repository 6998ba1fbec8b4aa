#!/usr/bin/python3
"""What `gradflow board` costs and how it holds up (issue: live board). Run after building:
    /usr/bin/python3 bench/board_cost.py [REPEATS=3]

1. A training run's time alone and while headless Chromium (Selenium) shows it on the board,
   runs alternated; the board and the browser started before either, the page opened on the
   run (?run=NAME) before it starts, as a reader watching it would have it; and the CPU time
   the board and the browser used meanwhile.
2. The list and the page with 100 runs; the server's memory with 1,000 runs and with a 1 GB
   metrics.jsonl (the board reads the last 32 MB of a records file per request)."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CLI = os.environ.get("GRADFLOW", os.path.join(ROOT, "build", "app", "gradflow"))
repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def start_board(folder):
    proc = subprocess.Popen([CLI, "board", folder, "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
    return proc, url


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    return time.perf_counter() - t, body


def browser():
    """Headless Chromium under Selenium, as tests/python/test_board.py drives it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def cpu_seconds(pids):
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def watchers(board):
    """The board's process and every Chromium process (the browser, its renderers, chromedriver)."""
    pids = [board.pid]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if re.search(rb"chrom", f.read()):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def train(folder, name, url, driver, board):
    """Epoch seconds of one run and the CPU seconds the board and the browser used meanwhile.
    With a driver, the page is open on the run before it starts (?run=NAME) and follows it as a
    reader would: the run appears, is drawn, and its charts grow."""
    out = os.path.join(folder, name)
    if driver:
        driver.get(url + "?run=" + name)
        time.sleep(2)
    pids = watchers(board)
    before = cpu_seconds(pids)
    run = subprocess.Popen([CLI, "train", "--data", "fashion-mnist", "--epochs", str(EPOCHS),
                            "--no-report", "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert run.wait() == 0
    used = cpu_seconds(pids) - before
    if driver:
        assert driver.find_element("tag name", "body").get_attribute("data-shown") == name, "the page did not draw the run"
        driver.get("about:blank")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return sum(json.loads(line)["seconds"] for line in f), used


EPOCHS = 20
model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
print(f"CPU: {model} ({os.cpu_count()} cores)")
with tempfile.TemporaryDirectory() as tmp:
    # The board and the browser started and settled first: what a run costs is their watching.
    board, url = start_board(tmp)
    driver = browser()
    driver.get(url)
    time.sleep(2)
    driver.get("about:blank")
    alone, watched, used = [], [], []
    for i in range(repeats):
        alone.append(train(tmp, f"alone{i}", url, None, board)[0])
        seconds, cpu = train(tmp, f"watched{i}", url, driver, board)
        watched.append(seconds)
        used.append(cpu / seconds)
    driver.quit()
    board.send_signal(2)
    board.wait()
    a, w = statistics.median(alone), statistics.median(watched)
    print(f"training ({EPOCHS} epochs of Fashion-MNIST's 60,000 rows, the default net, {os.cpu_count()} threads): "
          f"epochs {a:.2f} s alone, {w:.2f} s while Chromium shows it on the board (median of {repeats}): "
          f"{100 * (w / a - 1):+.1f}%; the board and Chromium used {100 * statistics.median(used):.1f}% of a core "
          f"meanwhile (runs alternated; each: {', '.join(f'{x:.2f}' for x in alone)} s alone, "
          f"{', '.join(f'{x:.2f}' for x in watched)} s watched)")

    # 100 runs, then 1,000: copies of one finished run's folder.
    runs = os.path.join(tmp, "many")
    os.makedirs(runs)
    source = os.path.join(tmp, "watched0")
    for i in range(1000):
        shutil.copytree(source, os.path.join(runs, f"run{i:04d}"), ignore=shutil.ignore_patterns("*.safetensors"))
        if i == 99:
            board, url = start_board(runs)
            page, _ = get(url)
            listed, body = get(url + "api/runs")
            view, _ = get(url + "api/view?run=run0042")
            print(f"100 runs: page {1000 * page:.0f} ms, run list {1000 * listed:.0f} ms ({len(json.loads(body))} runs), "
                  f"one run's view {1000 * view:.0f} ms; server {rss_mb(board.pid):.0f} MB")
            board.send_signal(2)
            board.wait()
    board, url = start_board(runs)
    listed, body = get(url + "api/runs")
    print(f"1,000 runs: run list {1000 * listed:.0f} ms ({len(json.loads(body))} runs); server {rss_mb(board.pid):.0f} MB")
    board.send_signal(2)
    board.wait()

    # A 1 GB metrics.jsonl: the view reads its last 32 MB.
    big = os.path.join(tmp, "big", "huge")
    shutil.copytree(source, big, ignore=shutil.ignore_patterns("*.safetensors"))
    line = open(os.path.join(source, "metrics.jsonl")).readline()
    with open(os.path.join(big, "metrics.jsonl"), "w") as f:
        chunk = line * (64 * 1024 * 1024 // len(line))
        for _ in range(16):
            f.write(chunk)
    size = os.path.getsize(os.path.join(big, "metrics.jsonl")) / 2**30
    board, url = start_board(os.path.dirname(big))
    before = rss_mb(board.pid)
    view, body = get(url + "api/view?run=huge")
    records = len(json.loads(body)["data"]["runs"][0]["metrics"])
    print(f"a {size:.2f} GB metrics.jsonl: view {1000 * view:.0f} ms, {records} records (the last 32 MB); server "
          f"{before:.0f} MB before, {rss_mb(board.pid):.0f} MB after")
    board.send_signal(2)
    board.wait()

# gradflow.fit(live=True): the loss redrawn after each epoch (here, outside a notebook, a line).
sys.path.insert(0, os.path.join(ROOT, "build", "python"))
import contextlib  # noqa: E402
import io  # noqa: E402

import gradflow as gf  # noqa: E402

X, y = gf.data.fashion_mnist(True)
X, y = X[:30000], y[:30000]
times = {False: [], True: []}
for _ in range(repeats):
    for live in (False, True):
        net = gf.Sequential(784, gf.nn.mlp([256, 128]) + [gf.nn.dense(10), gf.nn.softmax()], seed=1)
        with contextlib.redirect_stdout(io.StringIO()):
            r = gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam", lr=1e-3), X, y, num_classes=10,
                       epochs=6, batch_size=128, diagnostics_every=0, live=live)
        times[live].append(sum(e["seconds"] for e in r["history"]))
a, b = statistics.median(times[False]), statistics.median(times[True])
print(f"gradflow.fit, 6 epochs of 30,000 rows (784-256-128-10): {a:.2f} s, with live=True {b:.2f} s "
      f"(median of {repeats}): {100 * (b / a - 1):+.1f}%")
