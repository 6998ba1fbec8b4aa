#!/usr/bin/python3
"""The Python package against the command line and against scikit-learn's and skorch's MLPs,
side by side in one run (bench/compare_python runs it).

1. The default job (784-512-256-10, BatchNorm, dropout 0.1, Adam 4e-3 with cosine, batch 128,
   15 epochs) through `gradflow train` and through gradflow.fit: the seconds of the epochs
   (training and the per-epoch test evaluation; the CLI's own bookkeeping is timed in
   metrics.jsonl's "seconds" too) and the test accuracy. The bindings should add no per-step cost.
2. GradflowClassifier, sklearn.neural_network.MLPClassifier and skorch's NeuralNetClassifier on
   scikit-learn's bundled data sets and a Fashion-MNIST subset: one hidden layer of 100 ReLUs,
   Adam at 1e-3, batch 200, the same number of epochs, no early stopping; wall time of fit and
   test accuracy (standardized features; 25% held out, stratified), after one untimed warm-up fit
   of each.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

import gradflow as gf

CLI = os.environ.get("GRADFLOW_CLI", "build/app/gradflow")
warnings.filterwarnings("ignore")


def default_job():
    out = tempfile.mkdtemp()
    subprocess.run([CLI, "train", "--out", out + "/run", "--no-report", "--diagnostics-every", "0"], check=True,
                   capture_output=True)
    rows = [json.loads(l) for l in open(out + "/run/metrics.jsonl")]
    cli = (sum(r["seconds"] for r in rows), rows[-1]["test_acc"])
    X, y = gf.data.fashion_mnist(True)
    Xt, yt = gf.data.fashion_mnist(False)
    layers = []
    for units in (512, 256):
        layers += [gf.nn.dense(units), gf.nn.batch_norm(), gf.nn.relu(), gf.nn.dropout(0.1)]
    net = gf.Sequential(784, layers + [gf.nn.dense(10), gf.nn.softmax()], seed=42)
    r = gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam", lr=4e-3), X, y, epochs=15, batch_size=128,
               seed=42, num_classes=10, X_val=Xt, y_val=yt, schedule="cosine")
    py = (sum(e["seconds"] for e in r["history"]), r["history"][-1]["val_acc"])
    print(f"default job: CLI {cli[0]:.2f} s of epochs, {100 * cli[1]:.2f}%; Python {py[0]:.2f} s, "
          f"{100 * py[1]:.2f}%; Python/CLI {py[0] / cli[0]:.3f}")


def datasets():
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = gf.data.fashion_mnist(True)
    sets = [("iris", *load_iris(return_X_y=True), 200), ("digits", *load_digits(return_X_y=True), 100),
            ("breast_cancer", *load_breast_cancer(return_X_y=True), 100),
            ("fashion-mnist 12k", X[:12000], y[:12000].astype(int), 20)]
    for name, X, y, epochs in sets:
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        s = StandardScaler().fit(Xa)
        yield name, s.transform(Xa).astype(np.float32), s.transform(Xb).astype(np.float32), ya, yb, epochs


def estimators(n_features, n_classes, epochs):
    from sklearn.neural_network import MLPClassifier
    from gradflow.sklearn import GradflowClassifier
    common = dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=epochs, random_state=0, tol=0)
    yield "gradflow", GradflowClassifier(learning_rate_init=1e-3, n_iter_no_change=epochs, **common)
    yield "scikit-learn", MLPClassifier(learning_rate_init=1e-3, n_iter_no_change=epochs, alpha=0, **common)
    try:
        import torch
        from skorch import NeuralNetClassifier
    except ImportError as e:
        print(f"  (skorch not measured: {e})")
        return
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(n_features, 100), torch.nn.ReLU(), torch.nn.Linear(100, n_classes))
    yield "skorch", NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                                        lr=1e-3, batch_size=200, max_epochs=epochs, train_split=None, verbose=0)


def estimators_side_by_side():
    # One fit of each first, untimed: every library's start-up (JIT kernels, thread pools) is
    # paid once per process, not by the first data set.
    Xw = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    for _, est in estimators(4, 2, 2):
        est.fit(Xw, (Xw[:, 0] > 0).astype(np.int64))
    for name, Xa, Xb, ya, yb, epochs in datasets():
        line = []
        for label, est in estimators(Xa.shape[1], len(np.unique(ya)), epochs):
            start = time.perf_counter()
            est.fit(Xa, ya.astype(np.int64))
            seconds = time.perf_counter() - start
            line.append((label, seconds, float((est.predict(Xb) == yb).mean())))
        base = line[0][1]
        print(f"{name} ({len(Xa)} training samples, {epochs} epochs): " + "; ".join(
            f"{l} {100 * a:.2f}% in {s:.3f} s ({s / base:.1f}× gradflow's time)" for l, s, a in line))


if __name__ == "__main__":
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    print(f"{cpu}, {os.cpu_count()} cores; gradflow {gf.__version__} ({gf.blas_kernels()}, {gf.num_threads()} threads)")
    if "--estimators-only" not in sys.argv:
        default_job()
    estimators_side_by_side()
