"""ONNX checked by runtimes nobody here wrote: every exported graph passes onnx.checker (full check)
and runs in OpenCV's DNN module with the outputs of `gradflow predict`; PyTorch's own exports
import with PyTorch's outputs. The C++ side (bits of the round trip, hostile files): test_onnx.cpp."""
import json
import os
import subprocess
import warnings

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper, utils

import gradflow as gf

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")
ATOL = 1e-5


def gradflow(*args):
    out = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    """A CSV with missing values and features on different scales; classes and a numeric target."""
    d = tmp_path_factory.mktemp("onnx")
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(240, 5)) * [1, 10, 100, 0.1, 1] + [0, 5, -50, 1, 2]).astype(np.float32)
    X[:, 4] = 2.0  # a constant feature: standardization only centres it
    X[rng.random(X.shape) < 0.08] = np.nan
    filled = np.nan_to_num(X)
    labels = {"classes": (filled[:, 0] + filled[:, 1] / 10 > 0.5).astype(int) + (filled[:, 2] > -50),
              "binary": (filled[:, 0] > 0).astype(int), "value": filled[:, 0] * 2 - filled[:, 3]}
    files = {}
    for name, y in labels.items():
        path = d / f"{name}.csv"
        with open(path, "w") as f:
            f.write("a,b,c,d,e,target\n")
            for row, t in zip(X, y):
                f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + f",{t}\n")
        files[name] = str(path)
    return d, files, X


def opencv(path, X):
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(X)
    return net.forward()


# (data, --layers, extra train options): every layer kind, as a hidden layer and as the output.
CASES = [
    ("classes", "16:relu:bn:dropout=0.2,8:sigmoid", []),
    ("classes", "8:tanh,8:leaky_relu,8:rrelu", []),
    ("classes", "8:prelu,8:elu,8:selu", []),
    ("classes", "8:identity:bn,8:softmax", []),
    ("binary", "8:relu", ["--loss", "bce"]),
    ("value", "8:elu", ["--task", "regression"]),
    ("classes", "bn,8:prelu", ["--output", "prelu", "--loss", "mse"]),
]


@pytest.mark.parametrize("data,layers,extra", CASES)
@pytest.mark.parametrize("impute", ["mean", "median"])
def test_exported_graphs_pass_the_checker_and_run_in_opencv_as_gradflow_predicts(csv_files, data, layers, extra,
                                                                                   impute, tmp_path):
    _, files, X = csv_files
    run = tmp_path / "run"
    gradflow("train", "--data", files[data], "--layers", layers, "--impute", impute, "--standardize", "--epochs", "3",
             "--no-report", "--out", str(run), *extra)
    onnx_path = str(tmp_path / "m.onnx")
    gradflow("export", str(run), "--out", onnx_path)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops[:4] == ["IsNaN", "Where", "Sub", "Div"] and "Identity" not in ops and "Dropout" not in ops
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["gradflow.features"]) == ["a", "b", "c", "d", "e"] and meta["gradflow.impute"] == impute

    lines = gradflow("predict", "--model", str(run), "--input", files[data], "--format", "json").splitlines()
    rows = [json.loads(line) for line in lines]
    want = np.array([r["y"] if "y" in r else r["probabilities"] for r in rows], np.float32)
    # OpenCV 4.6 has no IsNaN or Where: it runs everything after the imputation, on inputs filled
    # by numpy with the graph's own fill values; the imputation's two nodes are checked above.
    rest = str(tmp_path / "rest.onnx")
    utils.extract_model(onnx_path, rest, ["impute.Where_output"], ["output"])
    fill = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "impute.fill"))
    where = next(n for n in model.graph.node if n.op_type == "Where")
    assert list(where.input) == ["impute.IsNaN_output", "impute.fill", "input"]
    got = opencv(rest, np.where(np.isnan(X), fill, X).astype(np.float32))
    if got.shape[1] == 1 and want.shape[1] == 2:  # predict prints a sigmoid output as (1 − p, p)
        got = np.hstack([1 - got, got])
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL


@pytest.mark.parametrize("opset", range(11, 18))
def test_every_opset_passes_the_checker(opset):
    net = gf.Sequential(3, [gf.nn.dense(4), gf.nn.batch_norm(), gf.nn.selu(), gf.nn.dense(2), gf.nn.softmax()], seed=1)
    model = onnx.load_from_string(gf.model_to_onnx(net, opset=opset))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    with pytest.raises(ValueError, match="opset 18"):
        gf.model_to_onnx(net, opset=18)


def torch_sequential(kind):
    torch.manual_seed(1)
    nn = torch.nn
    middle = {"relu": [nn.ReLU()], "sigmoid": [nn.Sigmoid()], "tanh": [nn.Tanh()], "leaky_relu": [nn.LeakyReLU(0.2)],
              "rrelu": [nn.RReLU(0.1, 0.3)], "prelu": [nn.PReLU(8)], "prelu_shared": [nn.PReLU()],
              "elu": [nn.ELU(0.7)], "selu": [nn.SELU()], "identity": [nn.Identity()], "softmax": [nn.Softmax(dim=1)],
              "batch_norm": [nn.BatchNorm1d(8), nn.ReLU()], "dropout": [nn.ReLU(), nn.Dropout(0.3)],
              "no_bias": [nn.ReLU(), nn.Linear(8, 8, bias=False)]}[kind]
    model = nn.Sequential(nn.Linear(5, 8), *middle, nn.Linear(8, 3), nn.Softmax(dim=1))
    with torch.no_grad():  # batch statistics that are not their initial values
        model.train()(torch.randn(64, 5) * 3 + 1)
    return model.eval()


KINDS = ["relu", "sigmoid", "tanh", "leaky_relu", "rrelu", "prelu", "prelu_shared", "elu", "selu", "identity",
         "softmax", "batch_norm", "dropout", "no_bias"]


@pytest.mark.parametrize("opset", [13, 14])
@pytest.mark.parametrize("kind", KINDS)
def test_torch_exports_import_with_torchs_outputs(kind, opset, tmp_path):
    model = torch_sequential(kind)
    path = str(tmp_path / "t.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(2, 5), path, input_names=["x"], output_names=["y"], opset_version=opset,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    net = gf.load_model(path)
    assert net.loss == "cross_entropy"
    X = np.random.default_rng(2).normal(size=(50, 5)).astype(np.float32) * 2
    with torch.no_grad():
        want = model(torch.from_numpy(X)).numpy()
    assert np.abs(net.predict(X) - want).max() <= ATOL


def test_the_cli_imports_and_predicts_and_refuses_what_is_not_an_mlp(tmp_path):
    model = torch_sequential("batch_norm")
    path = str(tmp_path / "t.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(2, 5), path, dynamic_axes={"onnx::Gemm_0": {0: "batch"}})
    out = gradflow("import", path)
    assert "BatchNorm(8)" in out and os.path.exists(tmp_path / "t.safetensors")
    X = np.random.default_rng(3).normal(size=(20, 5)).astype(np.float32)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="a,b,c,d,e", comments="")
    for model_file in ("t.safetensors", "t.onnx"):  # predict also reads the .onnx itself
        lines = gradflow("predict", "--model", str(tmp_path / model_file), "--input", str(tmp_path / "x.csv"),
                         "--format", "json").splitlines()
        got = np.array([json.loads(line)["probabilities"] for line in lines], np.float32)
        with torch.no_grad():
            assert np.abs(got - model(torch.from_numpy(X)).numpy()).max() <= ATOL

    bad = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.LogSoftmax(dim=1)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(bad, torch.randn(2, 5), str(tmp_path / "bad.onnx"))
    out = subprocess.run([CLI, "import", str(tmp_path / "bad.onnx")], capture_output=True, text=True)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert "(LogSoftmax): not a layer gradflow has" in out.stderr and "bad.onnx: node 1" in out.stderr
    with pytest.raises(RuntimeError, match="not an ONNX model"):
        gf.model_from_onnx(b"\x08\x07\x12garbage")


def test_an_estimator_exports_what_it_predicts(tmp_path):
    from sklearn.datasets import load_iris
    from gradflow.sklearn import GradflowClassifier
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = GradflowClassifier(hidden_layer_sizes=(16,), batch_norm=True, max_iter=20, random_state=0).fit(X, y)
    path = str(tmp_path / "iris.onnx")
    clf.to_onnx(path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert json.loads({p.key: p.value for p in model.metadata_props}["gradflow.classes"]) == ["0", "1", "2"]
    got = opencv(path, X.astype(np.float32))
    assert np.abs(got - clf.predict_proba(X)).max() <= ATOL


def test_a_torch_classifier_without_softmax_imports_as_logits_when_told(tmp_path):
    """PyTorch's usual classifier ends in nn.Linear (CrossEntropyLoss takes the logits)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    path = str(tmp_path / "logits.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(2, 5), path, dynamic_axes={"onnx::Gemm_0": {0: "batch"}})
    out = gradflow("import", path)
    assert "output: regression (the output layer is not a softmax or sigmoid; --task classification" in out
    out = gradflow("import", path, "--task", "classification", "--classes", "cat,dog,bird", "--out",
                   str(tmp_path / "c.safetensors"))
    assert "output: classification: the 3 outputs are taken as logits, and a Softmax is appended" in out
    X = np.random.default_rng(3).normal(size=(20, 5)).astype(np.float32)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="a,b,c,d,e", comments="")
    lines = gradflow("predict", "--model", str(tmp_path / "c.safetensors"), "--input", str(tmp_path / "x.csv"),
                     "--format", "json").splitlines()
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()
    assert np.abs(np.array([json.loads(l)["probabilities"] for l in lines]) - want).max() <= ATOL
    assert json.loads(lines[0])["label"] in ("cat", "dog", "bird")
    m = gf.model_from_onnx(open(path, "rb").read(), task="classification", classes=["cat", "dog", "bird"])
    assert m.loss == "cross_entropy" and m.class_names == ["cat", "dog", "bird"]
    assert np.abs(m.predict(X) - want).max() <= ATOL
    with pytest.raises(RuntimeError, match="2 class names for a model with 3 classes"):
        gf.model_from_onnx(open(path, "rb").read(), task="classification", classes=["a", "b"])
    with pytest.raises(ValueError, match="task 'cluster'"):
        gf.model_from_onnx(open(path, "rb").read(), task="cluster")
