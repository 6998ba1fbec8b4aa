#!/usr/bin/python3
"""Writes examples/python/lecture.ipynb (the notebook is what users open and the tests run; this
script is how it is edited): /usr/bin/python3 tools/make_lecture_notebook.py"""
import os

import nbformat as nbf
nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
md("""# The lecture's claims, in Python

This notebook walks through the lecture "Deep Neural Networks" with gradflow's Python package:
XOR, initialization, dying ReLUs, batch normalization and transfer learning. Every number is
measured here, on this machine; the test suite runs the notebook from top to bottom
(`tests/python/test_notebook.py`)."""),
code("""import numpy as np
import gradflow as gf

def train(net, X, y, loss="cross_entropy", optimizer="adam", epochs=50, batch_size=32, schedule="none", **kw):
    # The lecture's minibatch SGD at a constant rate (gf.fit's own default is the CLI's cosine schedule).
    opt_args = {k: kw.pop(k) for k in list(kw) if k in ("lr", "momentum", "weight_decay")}
    classes = int(y.max()) + 1 if loss == "cross_entropy" else 0
    return gf.fit(net, gf.Loss(loss), gf.make_optimizer(optimizer, **opt_args), X, y, epochs=epochs,
                  batch_size=batch_size, num_classes=classes, schedule=schedule, **kw)

def accuracy(net, X, y):
    return float((net.predict(X).argmax(axis=1) == y).mean())

print(gf.__version__, gf.blas_kernels())"""),
md("""## 1. XOR: a linear model cannot, one hidden layer can

A network without a hidden layer draws one straight line through the plane; XOR needs two."""),
code("""X, y = gf.data.xor()
linear = gf.Sequential(2, [gf.nn.dense(2), gf.nn.softmax()], seed=1)
train(linear, X, y, epochs=500, batch_size=4, lr=0.1)
hidden = gf.Sequential(2, [gf.nn.dense(4), gf.nn.tanh(), gf.nn.dense(2), gf.nn.softmax()], seed=1)
train(hidden, X, y, epochs=500, batch_size=4, lr=0.1)
xor_linear, xor_hidden = accuracy(linear, X, y), accuracy(hidden, X, y)
print(f"linear: {xor_linear:.0%}   one tanh hidden layer: {xor_hidden:.0%}")
assert xor_linear <= 0.75 and xor_hidden == 1.0"""),
md("""## 2. Initialization: N(0,1) against Glorot in a deep tanh network

The per-layer diagnostics record each layer's output statistics; at the first step they show
what the initializer did. Under N(0,1) the tanh units saturate (outputs near ±1: a standard
deviation near 1); Glorot keeps them in their linear range."""),
code("""X, y = gf.data.spirals(500, seed=1)
def deep_tanh(init):
    layers = []
    for _ in range(8):
        layers += [gf.nn.dense(64, init=init), gf.nn.tanh()]
    return gf.Sequential(2, layers + [gf.nn.dense(2), gf.nn.softmax()], seed=2)

stds = {}
for init in ("normal", "glorot_normal"):
    record = train(deep_tanh(init), X, y, epochs=1, diagnostics_every=1)["diagnostics"][0]
    stds[init] = [round(l["out_std"], 3) for l in record["layers"] if l["kind"] == "tanh"]
    print(f"{init:>14}: std of each tanh layer's output", stds[init])
assert min(stds["normal"][1:]) > 0.8 and max(stds["glorot_normal"]) < 0.2"""),
md("""## 3. Dying ReLUs at a high learning rate

A ReLU unit whose input is negative for every sample gets no gradient and never recovers. The
diagnostics count such units per layer; at a learning rate of 3 most of them die, and gradflow
says so, with the cause, as a RuntimeWarning (`result["warnings"]` holds the same lines)."""),
code("""X, y = gf.data.spirals(500, seed=1)
def relu_net():
    return gf.Sequential(2, [gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(2),
                             gf.nn.softmax()], seed=3)
dead = {}
for lr in (0.01, 3.0):
    result = train(relu_net(), X, y, optimizer="sgd", lr=lr, epochs=20, diagnostics_every=10)
    last = result["diagnostics"][-1]["layers"]
    dead[lr] = max(l["dead"] for l in last if l["kind"] == "relu")
    print(f"lr {lr}: largest dead fraction {dead[lr]:.0%}")  # (the warning shows below, once)
assert dead[3.0] > 0.5 > dead[0.01]"""),
md("""The last run's report: the page `gradflow report` draws for a command-line run — loss curves,
and per layer the gradient norms, update ratios and dead fractions over the steps."""),
code("""result["report"]"""),
md("""## 4. Batch normalization

A deep sigmoid network trains slowly with plain SGD; with BatchNorm before each sigmoid the same
budget gets much further (two interleaved half moons, 30 epochs)."""),
code("""X, y = gf.data.moons(1000, seed=1)
def sigmoid_net(bn):
    layers = []
    for _ in range(4):
        layers += [gf.nn.dense(64)] + ([gf.nn.batch_norm()] if bn else []) + [gf.nn.sigmoid()]
    return gf.Sequential(2, layers + [gf.nn.dense(2), gf.nn.softmax()], seed=5)
final = {}
for bn in (False, True):
    history = train(sigmoid_net(bn), X, y, optimizer="sgd", lr=0.1, epochs=30)["history"]
    final[bn] = history[-1]["train_loss"]
    print(f"BatchNorm {bn!s:>5}: training loss after 30 epochs {final[bn]:.4f}")
assert final[True] < 0.5 * final[False]"""),
md("""## 5. Transfer learning with frozen layers

Pretrain on two spirals, then learn a related task — the same spirals with the classes swapped —
from 30 samples: the reused, frozen hidden layers (only the output layer learns) against a
network trained from scratch on the same few samples."""),
code("""X_big, y_big = gf.data.spirals(1000, seed=11)
source = gf.Sequential(2, [gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(2),
                           gf.nn.softmax()], seed=6)
train(source, X_big, y_big, epochs=100, lr=0.01)
X_few, y_few = gf.data.spirals(15, seed=12)          # 30 labelled samples
y_few = 1 - y_few                                     # the new task: the classes swapped
X_test, y_test = gf.data.spirals(500, noise=0.1, seed=13)
y_test = 1 - y_test

def target():
    return gf.Sequential(2, [gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(64), gf.nn.relu(), gf.nn.dense(2),
                             gf.nn.softmax()], seed=7)
scratch = target()
train(scratch, X_few, y_few, epochs=100, batch_size=8, lr=0.05)
reused = target()
copied = reused.copy_layers_from(source)
for layer in range(4):                                # both hidden blocks frozen
    reused.set_trainable(layer, False)
train(reused, X_few, y_few, epochs=100, batch_size=8, lr=0.05)
print(f"copied {copied} layers; test accuracy: scratch {accuracy(scratch, X_test, y_test):.1%}, "
      f"reused and frozen {accuracy(reused, X_test, y_test):.1%}")
assert accuracy(reused, X_test, y_test) > accuracy(scratch, X_test, y_test)"""),
md("""## In scikit-learn

`gradflow.sklearn` has a classifier and a regressor that pass scikit-learn's own
`check_estimator`; they work in pipelines and searches, and keep the per-epoch history."""),
code("""from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from gradflow.sklearn import GradflowClassifier

X, y = load_iris(return_X_y=True)
clf = make_pipeline(StandardScaler(), GradflowClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                                         max_iter=100, random_state=0))
print("cross-validated accuracy", cross_val_score(clf, X, y, cv=3).mean().round(3))
clf.fit(X, y)[-1].history_.tail(3)"""),
]
for i, cell in enumerate(cells):
    cell["id"] = f"cell-{i:02d}"  # stable: regenerating the notebook changes only what changed
nb["cells"] = cells
nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python", "lecture.ipynb"))
