#!/usr/bin/python3
"""PyTorch's side of bench/compare_activations: the same networks, update rule, batch and data
shape as bench_activations.cpp, in the fastest plain PyTorch loop.

  torch_activations.py THREADS [EPOCHS=2]   -> one JSON object like bench_activations'
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(1)
x, y = torch.rand(20000, 784), torch.randint(0, 10, (20000,))


def epoch(model, opt, xs, ys):
    perm = torch.randperm(len(xs))
    for i in range(0, len(xs), 64):
        idx = perm[i:i + 64]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xs[idx]), ys[idx]).backward()
        opt.step()


out = {"torch": torch.__version__, "threads": threads}
for name, act in [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("elu", nn.ELU), ("selu", nn.SELU),
                  ("rrelu", nn.RReLU), ("prelu", nn.PReLU)]:
    model = nn.Sequential(nn.Linear(784, 256), act(), nn.Linear(256, 128), act(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    epoch(model, opt, x[:2048], y[:2048])  # warm-up
    best = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch(model, opt, x, y)
        best = max(best, len(x) / (time.perf_counter() - t0))
    out[name] = round(best)
print(json.dumps(out))
