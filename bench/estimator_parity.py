#!/usr/bin/python3
"""GradflowClassifier and scikit-learn's MLPClassifier, both with default arguments, on iris, wine
and breast_cancer: test accuracy over 20 seeds (stratified 70/30 split per seed, StandardScaler
in a Pipeline, random_state = the seed), mean ± std side by side, and gradflow with init="default"
(He for ReLU) to show what the Glorot-uniform default buys. Run after building:
    /usr/bin/python3 bench/estimator_parity.py [SEEDS=20]"""
import os
import sys
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "python"))
from gradflow.sklearn import GradflowClassifier  # noqa: E402

warnings.filterwarnings("ignore")  # ConvergenceWarning at max_iter, from both sides alike
seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
sides = {"GradflowClassifier()": lambda s: GradflowClassifier(random_state=s),
         "MLPClassifier()": lambda s: MLPClassifier(random_state=s),
         "GradflowClassifier(init='default')": lambda s: GradflowClassifier(random_state=s, init="default")}
print(f"test accuracy, mean ± std over {seeds} seeds")
print(f"{'data':<14}" + "".join(f"{name:>38}" for name in sides))
for name, load in [("iris", load_iris), ("wine", load_wine), ("breast_cancer", load_breast_cancer)]:
    X, y = load(return_X_y=True)
    scores = {k: [] for k in sides}
    for seed in range(seeds):
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
        for k, make in sides.items():
            scores[k].append(make_pipeline(StandardScaler(), make(seed)).fit(Xa, ya).score(Xb, yb))
    print(f"{name:<14}" + "".join(f"{np.mean(v):>30.3f} ± {np.std(v):.3f}" for v in scores.values()), flush=True)
