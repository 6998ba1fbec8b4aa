#!/usr/bin/python3
"""What `gradflow board` costs and how it holds up (issue: live board). Run after building:
    /usr/bin/python3 bench/board_cost.py [BLOCKS=120] [EPOCHS_PER_BLOCK=1] [--calibrate=SECONDS]

1. A training run's epochs while headless Chromium (Selenium) shows it on the board, against its
   epochs while the board and the browser are stopped (SIGSTOP: no CPU at all), alternating
   within the same run: each watched block of epochs is compared with the unwatched blocks on
   either side of it, which cancels the VM's slow swings (identical runs here differ by up to
   ±15%, more than the cost being measured). The swings are slow, so short blocks measure best: on
   one unwatched run of 351 epochs, this estimate's 95% interval was ±1.0% for blocks of one epoch
   and ±8% for blocks of 12. The page is opened on the run before it starts, as a reader watching
   it would have it; the CPU time the board and the browser used while watching is printed.
   Stopping defers work rather than removing it: a poll falling due while stopped is made when
   they continue, so every poll of the run lands in a watched block — twice the polls per watched
   epoch that a reader watching all along would cost (half the epochs are watched). So the same is
   measured with the browser on about:blank (its own idle work, deferred or dropped alike), and
   the cost of watching a whole run is at most the mean of the two: with P the polls' cost and
   I the idle browser's, the page measures 2P + aI and the blank page aI, a between 1 (idle
   work dropped while stopped) and 2 (deferred), and (2P + aI + aI) / 2 = P + aI ≥ P + I.
   --calibrate=0.04: the same, watched by a process busy 40 ms of each second instead (what the
   method finds for a known load), and nothing else.
2. The list and the page with 100 runs; the server's memory with 1,000 runs and with a 1 GB
   metrics.jsonl (the board reads the last 32 MB of a records file per request).
3. gf.fit with live=True against without, in pairs, in a notebook and in a script."""
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CLI = os.environ.get("GRADFLOW", os.path.join(ROOT, "build", "app", "gradflow"))
args = [a for a in sys.argv[1:] if not a.startswith("--calibrate=")]
calibrate = float(next((a.split("=")[1] for a in sys.argv[1:] if a.startswith("--calibrate=")), 0))
blocks = int(args[0]) if args else 120
per_block = int(args[1]) if len(args) > 1 else 1
pairs = 20  # gf.fit with and without live=True


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


def pause(pids, stop):
    """Stops (SIGSTOP) or continues the processes: stopped, they use no CPU at all."""
    for pid in (pids if stop else pids[::-1]):
        try:
            os.kill(pid, signal.SIGSTOP if stop else signal.SIGCONT)
        except OSError:
            pass


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def watched_run(folder, pids, driver=None, url=None):
    """One run of 2 + 2·blocks·per_block epochs into `folder`: after two epochs, blocks of
    per_block epochs alternate between the watchers (processes `pids`) stopped and running,
    switched as an epoch's record is written; the driver's page opened on the run first (url) or
    on about:blank. Returns each epoch's seconds, whether each was watched (by epoch number), and
    the watchers' CPU and wall seconds while watching."""
    out = os.path.join(folder, "live")
    if driver:
        driver.get(url + "?run=live" if url else "about:blank")
        time.sleep(2)
    run = subprocess.Popen([CLI, "train", "--data", "fashion-mnist", "--epochs", str(2 + 2 * blocks * per_block),
                            "--no-report", "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics, done, watching, state = os.path.join(out, "metrics.jsonl"), 0, True, {}
    cpu, wall, c0, t0 = 0.0, 0.0, cpu_seconds(pids), time.time()
    while run.poll() is None:
        n = lines(metrics)
        if n != done:
            done = n
            if done >= 2 and (done - 2) % per_block == 0:
                if watching:
                    cpu, wall = cpu + cpu_seconds(pids) - c0, wall + time.time() - t0
                watching = not watching if done > 2 else False
                pause(pids, not watching)
                c0, t0 = cpu_seconds(pids), time.time()
            state[done + 1] = watching
        time.sleep(0.005)
    pause(pids, False)
    assert run.wait() == 0
    if url:
        time.sleep(12)  # the page's next poll: it draws the finished run
        assert driver.find_element("tag name", "body").get_attribute("data-shown") == "live", "the page did not draw it"
        driver.get("about:blank")
    with open(metrics) as f:
        seconds = [json.loads(line)["seconds"] for line in f]
    return seconds, state, cpu, wall


def t975(df):
    """Student's t 97.5% quantile (a 95% two-sided interval), from a table: the nearest df below."""
    table = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
             12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}
    return table[max(k for k in table if k <= df)]


def watching_cost(seconds, state):
    """Each watched block's mean epoch over the mean of its unwatched neighbours' (log ratios):
    their mean as a percentage with a 95% interval (Student's t), and their median."""
    means, watched = [], []
    for b in range(2 * blocks):
        first = 2 + b * per_block  # index of the block's first epoch (epoch number first + 1)
        means.append(statistics.mean(seconds[first:first + per_block]))
        watched.append(state[first + 1])
    r = []
    for b, w in enumerate(watched):
        around = [means[j] for j in (b - 1, b + 1) if 0 <= j < len(means) and not watched[j]]
        if w and around:
            r.append(math.log(means[b] / statistics.mean(around)))
    m, half = statistics.mean(r), t975(len(r) - 1) * statistics.stdev(r) / math.sqrt(len(r))
    pct = lambda x: 100 * (math.exp(x) - 1)  # noqa: E731
    return pct(m), pct(m - half), pct(m + half), pct(statistics.median(r)), len(r)


model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
print(f"CPU: {model} ({os.cpu_count()} cores)")
with tempfile.TemporaryDirectory() as tmp:
    summary = lambda what, c: (  # noqa: E731
        f"epochs {c[0]:+.1f}% while {what} (95% interval {c[1]:+.1f}% to {c[2]:+.1f}%; median {c[3]:+.1f}%)")
    print(f"training (Fashion-MNIST's 60,000 rows, the default net, {os.cpu_count()} threads; "
          f"{2 + 2 * blocks * per_block} epochs a run, watched blocks of {per_block} epochs between unwatched ones):")
    if calibrate:  # the method on a known load: a process busy `calibrate` of each second, in one burst
        hog = subprocess.Popen(["/usr/bin/python3", "-c", "import time\nwhile True:\n t = time.perf_counter()\n"
                                f" while time.perf_counter() - t < {calibrate}: pass\n time.sleep({1 - calibrate})"])
        seconds, state, cpu, wall = watched_run(tmp, [hog.pid])
        hog.kill()
        print(f"  {summary(f'a process busy {1000 * calibrate:.0f} ms of each second runs', watching_cost(seconds, state))}"
              f"; it used {100 * cpu / wall:.1f}% of a core meanwhile")
        sys.exit(0)
    for folder in ("page", "blank"):
        os.makedirs(os.path.join(tmp, folder))
    board, url = start_board(os.path.join(tmp, "page"))
    driver = browser()
    costs = {}
    for page in (True, False):
        folder = os.path.join(tmp, "page" if page else "blank")
        seconds, state, cpu, wall = watched_run(folder, watchers(board), driver, url if page else None)
        costs[page] = watching_cost(seconds, state)
        what = "Chromium shows the run on the board" if page else "Chromium shows about:blank (the board idle)"
        print(f"  {summary(what, costs[page])}; the board and Chromium used {100 * cpu / wall:.1f}% of a core "
              f"while watching")
    driver.quit()
    board.send_signal(2)
    board.wait()
    # The bound (see the top): the mean of the two, its interval from both runs' (independent).
    mean = (costs[True][0] + costs[False][0]) / 2
    half = math.hypot(costs[True][2] - costs[True][1], costs[False][2] - costs[False][1]) / 4
    print(f"  watching a whole run costs it at most {mean:+.1f}% (95% interval {mean - half:+.1f}% to "
          f"{mean + half:+.1f}%), at least half the first figure")

    # 100 runs, then 1,000: copies of one finished run's folder, cut to its first 20 epochs (a
    # default run's length).
    runs = os.path.join(tmp, "many")
    os.makedirs(runs)
    source = os.path.join(tmp, "first20")
    shutil.copytree(os.path.join(tmp, "page", "live"), source, ignore=shutil.ignore_patterns("*.safetensors"))
    for name in ("metrics.jsonl", "diagnostics.jsonl"):
        with open(os.path.join(source, name)) as f:
            kept = [line for line in f if json.loads(line)["epoch"] <= 20]
        with open(os.path.join(source, name), "w") as f:
            f.writelines(kept)
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
    with open(os.path.join(runs, "run0042", "metrics.jsonl"), "a") as f:  # one run trains on
        f.write(open(os.path.join(runs, "run0042", "metrics.jsonl")).readline())
    again, _ = get(url + "api/runs")
    print(f"1,000 runs: run list {1000 * listed:.0f} ms ({len(json.loads(body))} runs), {1000 * again:.0f} ms again "
          f"after one run's new epoch; server {rss_mb(board.pid):.0f} MB")
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

# gradflow.fit(live=True): the loss redrawn after each epoch — in a notebook (a Jupyter kernel run
# by nbclient, as tests/python/test_notebook.py runs one), an SVG updated in place through the
# display handle; in a script, a line. Fits in pairs side by side, which goes first alternating:
# each pair's log ratio, as for the board.
FITS = f"""
import contextlib, io, json, math, sys, time
sys.path.insert(0, {os.path.join(ROOT, "build", "python")!r})
import gradflow as gf
X, y = gf.data.fashion_mnist(True)
X, y = X[:30000], y[:30000]
def fit_seconds(live):  # the whole call's: an epoch's "seconds" leave out the hook's own time
    net = gf.Sequential(784, gf.nn.mlp([256, 128]) + [gf.nn.dense(10), gf.nn.softmax()], seed=1)
    with contextlib.redirect_stdout(io.StringIO()):  # the script's lines (a notebook's SVG is no print)
        start = time.perf_counter()
        gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam", lr=1e-3), X, y, num_classes=10,
               epochs=6, batch_size=128, diagnostics_every=0, live=live)
        return time.perf_counter() - start
ratios = []
for i in range({pairs}):
    first = bool(i % 2)
    t = {{first: fit_seconds(first)}}
    t[not first] = fit_seconds(not first)
    ratios.append(math.log(t[True] / t[False]))
print("RATIOS", json.dumps(ratios))
"""


def in_notebook():
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FITS)])
    with tempfile.TemporaryDirectory() as where:
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": where}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert any(o.get("output_type") == "display_data" for o in nb.cells[0].outputs), "no live drawing in the notebook"
    return json.loads(text.split("RATIOS ", 1)[1])


def in_script():
    out = subprocess.run(["/usr/bin/python3", "-c", FITS], check=True, capture_output=True, text=True).stdout
    return json.loads(out.split("RATIOS ", 1)[1])


for where, ratios in (("in a notebook", in_notebook), ("in a script", in_script)):
    r = ratios()
    m, half = statistics.mean(r), t975(len(r) - 1) * statistics.stdev(r) / math.sqrt(len(r))
    pct = lambda x: 100 * (math.exp(x) - 1)  # noqa: E731
    print(f"gradflow.fit {where}, 6 epochs of 30,000 rows (784-256-128-10), with live=True against without, "
          f"{pairs} pairs: {pct(m):+.1f}% (95% interval {pct(m - half):+.1f}% to {pct(m + half):+.1f}%)")
