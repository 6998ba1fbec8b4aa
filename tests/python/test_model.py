"""A model as one value, at the seams where it used to break: Python against the CLI on the same
rows (standardization, imputation, IDX-scaled pixels; safetensors, ONNX and bytes), many threads
sharing one model, inputs outside what the model has seen, outputs that overflow, networks too
large for the machine."""
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

import gradflow as gf
from gradflow.sklearn import GradflowClassifier, GradflowRegressor

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")
DIGITS = (load_digits().data.astype(np.float32), load_digits().target)
FASHION = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist (scripts/deps.sh)


def cli(*args):
    done = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def cli_probabilities(model, csv_or_idx):
    """What `gradflow predict --format json` answers: the printed floats are the float32 bits."""
    out = cli("predict", "--model", model, "--input", csv_or_idx, "--format", "json").stdout
    return np.array([json.loads(line)["probabilities"] for line in out.splitlines()], dtype=np.float32)


def write_digits(path, missing=False):
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    if missing:  # every 7th sample misses a pixel
        X[::7, 20] = np.nan
    header = ",".join(f"p{j}" for j in range(X.shape[1]))
    rows = [",".join("" if np.isnan(v) else f"{v:g}" for v in x) + f",{label}" for x, label in zip(X, y)]
    path.write_text(header + ",digit\n" + "\n".join(rows) + "\n")
    return X


def write_features(path, X):
    header = ",".join(f"p{j}" for j in range(X.shape[1]))
    path.write_text(header + "\n" + "\n".join(",".join("" if np.isnan(v) else f"{v:.9g}" for v in x) for x in X) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Digits trained with --standardize and with --impute mean, Fashion-MNIST from its IDX files."""
    d = tmp_path_factory.mktemp("runs")
    write_digits(d / "digits.csv")
    write_digits(d / "holes.csv", missing=True)
    common = ["--label-column", "digit", "--test-split", "0.3", "--layers", "32:relu", "--epochs", "3",
              "--batch-size", "32"]
    cli("train", "--data", d / "digits.csv", "--standardize", "--out", d / "std", *common)
    cli("train", "--data", d / "holes.csv", "--impute", "mean", "--standardize", "--out", d / "imputed", *common)
    cli("train", "--limit", 600, "--test-limit", 100, "--epochs", 1, "--out", d / "idx")
    return d


@pytest.mark.parametrize("run, data", [("std", "digits.csv"), ("imputed", "holes.csv")])
def test_python_answers_as_the_cli_for_every_format(runs, run, data, tmp_path):
    X = write_digits(tmp_path / "d.csv", missing=run == "imputed")[:300]
    write_features(tmp_path / "x.csv", X)
    model_file = runs / run / "model.safetensors"
    want = cli_probabilities(model_file, tmp_path / "x.csv")
    model = gf.load_model(str(model_file))
    assert model.info["standardized"] and model.info["imputed"] == (run == "imputed")
    np.testing.assert_array_equal(model.predict(X), want)
    # ONNX, written by the CLI and read by Python (and the CLI)
    cli("export", runs / run, "--out", tmp_path / "m.onnx")
    onnx = gf.load_model(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(onnx.predict(X), want, atol=1e-6)
    np.testing.assert_array_equal(cli_probabilities(tmp_path / "m.onnx", tmp_path / "x.csv"), onnx.predict(X))
    # bytes, and a file saved by Python that the CLI reads: every step kept
    np.testing.assert_array_equal(gf.model_from_bytes(model.to_bytes()).predict(X), want)
    gf.save_model(str(tmp_path / "py.safetensors"), model)
    np.testing.assert_array_equal(cli_probabilities(tmp_path / "py.safetensors", tmp_path / "x.csv"), want)
    # the bare network is not the model: it skips the steps, as documented
    assert np.abs(model.network.predict(np.nan_to_num(X)) - want).max() > 0.01


def test_an_idx_trained_model_answers_as_the_cli_and_warns_about_raw_pixels(runs, tmp_path):
    images = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
    want = cli_probabilities(runs / "idx", images)[:500]
    X = gf.data.fashion_mnist(train=False)[0][:500]  # as the IDX reader gives them: pixel / 255
    model = gf.load_model(str(runs / "idx" / "model.safetensors"))
    assert "255" in model.info["input_form"]
    np.testing.assert_array_equal(model.predict(X), want)
    raw = X * 255  # the same images as a CSV of 0-255 pixels
    with pytest.warns(RuntimeWarning, match="raw 0-255 pixels.*divide the inputs by 255"):
        model.predict(raw)
    write_features(tmp_path / "raw.csv", raw[:20])
    done = cli("predict", "--model", runs / "idx", "--input", tmp_path / "raw.csv")
    assert "warning: input" in done.stderr and "divide the inputs by 255" in done.stderr, done.stderr
    assert cli("predict", "--model", runs / "idx", "--input", images).stderr == ""


def test_eight_threads_predicting_with_one_model_get_the_one_thread_bits(runs):
    X, Y = DIGITS
    model = gf.load_model(str(runs / "std" / "model.safetensors"))
    clf = GradflowClassifier(hidden_layer_sizes=(32,), batch_norm=True, max_iter=5, random_state=0).fit(X[:800], Y[:800])
    reg = GradflowRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X[:800], X[:800, 10])
    calls = {"Model.predict": lambda x: model.predict(x),
             "Sequential.predict": lambda x: model.network.predict(x),
             "predict_proba": clf.predict_proba, "predict": clf.predict, "regressor": reg.predict}
    for name, call in calls.items():
        inputs = [X[37 * t: 37 * t + 1 + 50 * t] for t in range(8)]
        want = [call(x) for x in inputs]
        wrong = []

        def work(t):
            for _ in range(100):
                if not np.array_equal(call(inputs[t]), want[t]):
                    wrong.append(t)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not wrong, f"{name}: {len(wrong)} of 800 calls differ from one thread's"


def test_fitting_one_network_from_two_threads_is_refused():
    X, y = gf.data.spirals(400, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(32), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=4)
    started, release = threading.Event(), threading.Event()

    def hold(epoch):
        started.set()
        release.wait(10)

    first = threading.Thread(target=lambda: gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y,
                                                   epochs=2, num_classes=2, on_epoch=hold))
    first.start()
    assert started.wait(10)
    try:
        with pytest.raises(RuntimeError, match="being trained by another thread"):
            gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, epochs=1, num_classes=2)
    finally:
        release.set()
        first.join()
    gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, epochs=1, num_classes=2)  # free again


def test_an_output_that_overflows_is_an_error_naming_the_row():
    X, y = gf.data.spirals(100, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(8), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=4)
    with pytest.raises(RuntimeError, match=r"predict: row \d+ gives output \d = nan .*overflows float32"):
        net.predict(X * np.float32(3e38))
    with pytest.raises(RuntimeError, match="predict: row"):
        gf.Model(net).predict(X * np.float32(3e38))


def test_a_network_too_large_for_the_machine_is_refused_at_once_without_allocating():
    start = time.monotonic()
    with pytest.raises(MemoryError, match=r"needs about .* GB to hold, more than this machine's"):
        gf.Sequential(2, [gf.nn.dense(10**12), gf.nn.relu(), gf.nn.dense(2)])
    net = gf.Sequential(2, [gf.nn.dense(2**20), gf.nn.relu(), gf.nn.dense(2)])
    X, y = gf.data.spirals(100, seed=1)
    with pytest.raises(gf.MemoryLimitError, match="to train"):
        gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("sgd"), X, y, batch_size=2**40, num_classes=2)
    assert time.monotonic() - start < 1.0
    small = gf.Sequential(2, [gf.nn.dense(4), gf.nn.relu(), gf.nn.dense(2)])
    np.testing.assert_array_equal(small.predict(X, batch_size=10**12), small.predict(X, batch_size=4096))


def test_a_model_pickles_and_says_what_it_is(runs):
    import pickle
    model = gf.load_model(str(runs / "std" / "model.safetensors"))
    X = DIGITS[0][:50]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    assert repr(model) == "Model(64 -> 10, cross_entropy, standardized)"
    assert model.check_inputs(X) == ""
    assert model.feature_names == [f"p{j}" for j in range(64)] and model.loss == "cross_entropy"
