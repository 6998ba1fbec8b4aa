#!/usr/bin/python3
"""scikit-learn's bundled data sets through `gradflow train` with no options but --standardize,
beside MLPClassifier() / MLPRegressor() with their defaults (in a Pipeline after StandardScaler),
on the same stratified 70/30 splits, one per seed: test accuracy (R² for diabetes), mean ± std,
and the difference. Run after building:
    /usr/bin/python3 bench/bundled_sets.py [SEEDS=5] [SETS=iris,wine,breast_cancer,digits,diabetes]"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CLI = os.environ.get("GRADFLOW", os.path.join(ROOT, "build", "app", "gradflow"))
EXTRA = os.environ.get("GRADFLOW_OPTIONS", "").split()  # to try a recipe: GRADFLOW_OPTIONS="--epochs 50"
warnings.filterwarnings("ignore")  # ConvergenceWarning at max_iter
seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["iris", "wine", "breast_cancer", "digits", "diabetes"]


def gradflow_score(train, test, regression, folder):
    cmd = [CLI, "train", "--data", train, "--test", test, "--label-column", "target", "--standardize",
           "--no-report", "--out", folder] + (["--task", "regression"] if regression else []) + EXTRA
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        last = json.loads(f.readlines()[-1])
    return last["test_r2" if regression else "test_acc"], out.stdout


print(f"{seeds} seeds, 70/30 splits; gradflow: `train --standardize` and nothing else; scikit-learn: defaults")
print(f"{'data':<14}{'metric':<10}{'gradflow':>18}{'scikit-learn':>18}{'difference':>12}  gradflow's choice")
with tempfile.TemporaryDirectory() as tmp:
    for name in names:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        regression = name == "diabetes"
        ours, theirs, note = [], [], ""
        for seed in range(seeds):
            Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=seed,
                                              stratify=None if regression else y)
            paths = []
            for part, (Xp, yp) in {"train": (Xa, ya), "test": (Xb, yb)}.items():
                p = os.path.join(tmp, f"{name}-{seed}-{part}.csv")
                frame = pd.DataFrame(Xp, columns=[f"x{i}" for i in range(X.shape[1])])
                frame["target"] = yp
                frame.to_csv(p, index=False)
                paths.append(p)
            score, stdout = gradflow_score(paths[0], paths[1], regression, os.path.join(tmp, f"run-{name}-{seed}"))
            ours.append(score)
            note = next((line[8:] for line in stdout.splitlines() if line.startswith("note:   batch")), "")
            model = MLPRegressor(random_state=seed) if regression else MLPClassifier(random_state=seed)
            theirs.append(make_pipeline(StandardScaler(), model).fit(Xa, ya).score(Xb, yb))
        a, b = np.mean(ours), np.mean(theirs)
        print(f"{name:<14}{'R²' if regression else 'accuracy':<10}{a:>11.4f} ± {np.std(ours):.3f}"
              f"{b:>11.4f} ± {np.std(theirs):.3f}{a - b:>+12.4f}  {note.split(':')[0]}", flush=True)
