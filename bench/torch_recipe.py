#!/usr/bin/python3
"""PyTorch with gradflow's default job's recipe (src/runs/recipe.h): 784-512-256-10, BatchNorm1d
before each ReLU, dropout 0.1, Adam 4e-3 with cosine annealing, batch 128, 15 epochs, on
Fashion-MNIST; prints the test accuracy after each epoch and the wall time.

  OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=1 bench/torch_recipe.py [EPOCHS=15] [THREADS=1] [LR=4e-3] [DROPOUT=0.1]
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import fashion_data

t_start = time.perf_counter()
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
torch.manual_seed(42)
x, y = fashion_data.load("train")
xt, yt = fashion_data.load("t10k")
lr = float(sys.argv[3]) if len(sys.argv) > 3 else 4e-3
p = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
model = nn.Sequential(nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(p), nn.Linear(512, 256),
                      nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=lr)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
for epoch in range(1, epochs + 1):
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 128):
        idx = perm[i:i + 128]
        if len(idx) < 2:
            continue
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    sched.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(f"epoch {epoch}: test accuracy {100 * acc:.2f}%  ({time.perf_counter() - t_start:.1f} s)", flush=True)
print(f"pytorch {torch.__version__}: {100 * acc:.2f}% after {epochs} epochs in {time.perf_counter() - t_start:.1f} s")
