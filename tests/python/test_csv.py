"""CSV as other tools write it: the reader (src/data/csv.cpp) against Python's csv module on a
generated corpus of quoted fields, and files written by pandas (an index column, quoted headers and
labels with commas, tab-separated .tsv) training and predicting as the clean file does."""
import csv
import io
import json
import os
import random
import subprocess

import numpy as np
import pandas as pd
import pytest

import gradflow as gf

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")
PIECES = ["a", "b c", '"', 'say "hi"', "line\nbreak", "é", "-", "label", "1.5e3"]


def text(rng, delimiter):
    """A name or label with the separator, quotes and newlines inside (no space at either end). Other
    separators stay out: the separator is sniffed (the most frequent on the first line), which is
    not what this corpus tests."""
    pieces = PIECES + [delimiter, f"x{delimiter}y"]
    t = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))).strip()
    return t if t and not t[0].isdigit() and t not in ("-", "-1.5e3") else "t" + t


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
def test_the_reader_splits_as_pythons_csv_module(seed, quoting, tmp_path):
    rng = random.Random(seed)
    delimiter = rng.choice([",", ";", "\t"])
    features = rng.randint(1, 4)
    names = []
    while len(names) < features + 1:
        n = text(rng, delimiter)
        if n not in names:
            names.append(n)
    classes = sorted({text(rng, delimiter) for _ in range(rng.randint(2, 4))})
    rows = [[round(rng.uniform(-100, 100), 3) for _ in range(features)] + [rng.choice(classes)] for _ in range(30)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow(names)
    writer.writerows(rows)
    path = tmp_path / "corpus.csv"
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    python = list(csv.reader(io.StringIO(buf.getvalue(), newline=""), delimiter=delimiter))
    X, y, info = gf.data.read_csv(str(path), label_column=names[-1])
    assert info["feature_names"] == python[0][:-1] and info["label_name"] == python[0][-1]
    np.testing.assert_array_equal(X, np.array([[float(v) for v in r[:-1]] for r in python[1:]], dtype=np.float32))
    assert [info["class_names"][int(c)] for c in y] == [r[-1] for r in python[1:]]


def test_a_quote_left_open_points_at_where_it_opened(tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('a,b,label\n1,2,x\n3,"4,y\n5,6,z\n')
    with pytest.raises(RuntimeError, match=r"open.csv:3:3: the quoted field opened here is never closed"):
        gf.data.read_csv(str(path))
    path.write_text('a,b,label\n1,"2"x,y\n')
    with pytest.raises(RuntimeError, match=r"open.csv:2:6: 'x' after the quoted field that opens at column 3"):
        gf.data.read_csv(str(path))


def cli(*args):
    done = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def probabilities(out):
    return np.array([json.loads(line)["probabilities"] for line in out.splitlines()])


def test_files_pandas_writes_train_and_predict_as_the_clean_file(tmp_path):
    from sklearn.datasets import load_iris
    iris = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=0)
    iris["target"] = iris["target"].map({0: "setosa, the small", 1: 'versicolor "v"', 2: "virginica"})
    clean = iris.copy()
    clean.columns = ["a", "b", "c", "d", "species"]
    clean["species"] = clean["species"].map({"setosa, the small": "s0", 'versicolor "v"': "s1", "virginica": "s2"})
    clean.to_csv(tmp_path / "clean.csv", index=False)
    fancy = iris.rename(columns={"sepal length (cm)": "sepal length, cm", "target": "species"})
    fancy.to_csv(tmp_path / "pandas.csv")                       # with its index column, quoted where needed
    fancy.to_csv(tmp_path / "pandas.tsv", sep="\t", index=False)  # tab-separated, .tsv
    common = ["--label-column", "species", "--test-split", "0.3", "--standardize", "--layers", "16:relu",
              "--epochs", "5", "--batch-size", "16", "--no-report"]
    runs = {}
    for name in ("clean.csv", "pandas.csv", "pandas.tsv"):
        out = cli("train", "--data", tmp_path / name, "--out", tmp_path / ("run_" + name), *common)
        runs[name] = tmp_path / ("run_" + name)
        if name == "pandas.csv":
            assert "left out: column 1 (unnamed: an index)" in out, out
    features = iris.drop(columns="target")
    features.to_csv(tmp_path / "x_clean.csv", index=False, header=["a", "b", "c", "d"])
    fancy.drop(columns="species").to_csv(tmp_path / "x_pandas.csv")
    want = probabilities(cli("predict", "--model", runs["clean.csv"], "--input", tmp_path / "x_clean.csv",
                             "--format", "json"))
    for name in ("pandas.csv", "pandas.tsv"):
        got = probabilities(cli("predict", "--model", runs[name], "--input", tmp_path / "x_pandas.csv",
                                "--format", "json"))
        np.testing.assert_array_equal(got, want)
    labels = [json.loads(line)["label"] for line in cli("predict", "--model", runs["pandas.csv"], "--input",
                                                         tmp_path / "x_pandas.csv", "--format", "json").splitlines()]
    assert set(labels) <= {"setosa, the small", 'versicolor "v"', "virginica"}


def test_columns_are_dropped_or_chosen_by_name_and_the_label_found_by_name_everywhere(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(90), "x1": rng.normal(size=90), "x2": rng.normal(size=90),
                       "noise": rng.normal(size=90)})
    df["target"] = np.where(df.x1 + df.x2 > 0, "up", "down")
    df.to_csv(tmp_path / "train.csv", index=False)
    df[["target", "x2", "noise", "x1", "id"]].to_csv(tmp_path / "test_reordered.csv", index=False)  # label first
    out = cli("train", "--data", tmp_path / "train.csv", "--test", tmp_path / "test_reordered.csv", "--drop-columns",
              "id,noise", "--layers", "8:relu", "--epochs", "2", "--no-report", "--out", tmp_path / "a")
    assert "left out" in out
    model = gf.load_model(str(tmp_path / "a" / "model.safetensors"))
    assert model.feature_names == ["x1", "x2"]
    cli("train", "--data", tmp_path / "train.csv", "--feature-columns", "x2,x1", "--layers", "8:relu", "--epochs", "2",
        "--no-report", "--out", tmp_path / "b")
    assert gf.load_model(str(tmp_path / "b" / "model.safetensors")).feature_names == ["x1", "x2"]
    evaluated = cli("eval", "--model", tmp_path / "a", "--data", tmp_path / "test_reordered.csv")
    assert "90 samples" in evaluated
    done = subprocess.run([CLI, "train", "--data", tmp_path / "train.csv", "--drop-columns", "idd"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "no column named 'idd' to drop" in done.stderr
