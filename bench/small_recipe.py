"""The small-data peer of bench/compare_small: the same recipe in PyTorch.

  small_recipe.py --write FILE.csv     writes the iris-sized data set (deterministic)
  small_recipe.py FILE.csv [EPOCHS]    trains on it, prints "test accuracy X% ... in S s"
"""
import csv
import math
import random
import sys
import time

NAMES = ["setosa", "versicolor", "virginica"]
MEANS = [(5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0)]

if sys.argv[1] == "--write":
    rng = random.Random(1)
    with open(sys.argv[2], "w") as f:
        f.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
        for i in range(150):
            c = i % 3
            f.write(",".join("%.2f" % (m + rng.gauss(0, 0.35)) for m in MEANS[c]) + "," + NAMES[c] + "\n")
    sys.exit(0)

import torch
import torch.nn as nn

torch.manual_seed(42)
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rows = list(csv.reader(open(sys.argv[1])))[1:]
x = torch.tensor([[float(v) for v in r[:4]] for r in rows])
y = torch.tensor([NAMES.index(r[4]) for r in rows])
# A stratified 30% test split, like gradflow's --test-split (not the same draw).
test = torch.zeros(len(rows), dtype=torch.bool)
for c in range(3):
    idx = (y == c).nonzero().flatten()
    test[idx[torch.randperm(len(idx))[: round(0.3 * len(idx))]]] = True
xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
xtr, xte = (xtr - mean) / std, (xte - mean) / std
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
loss_fn = nn.CrossEntropyLoss()
t0 = time.time()
for epoch in range(epochs):
    model.train()
    perm = torch.randperm(len(xtr))
    for b in range(0, len(xtr), 16):
        i = perm[b:b + 16]
        opt.zero_grad()
        loss_fn(model(xtr[i]), ytr[i]).backward()
        opt.step()
    sched.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
print(f"test accuracy {100 * acc:.2f}% after {epochs} epochs in {time.time() - t0:.2f} s")
