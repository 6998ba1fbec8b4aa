#!/usr/bin/python3
"""PyTorch's side of bench/compare: the same models, data, batch sizes and update rules as
bench_compare.cpp, in the fastest plain PyTorch loop (tensors indexed directly, no DataLoader).

  torch_peer.py THREADS [EPOCHS=2]   -> one JSON object like bench_compare's
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import fashion_data

threads = int(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(1)

if os.path.exists(f"{fashion_data.ROOT}/train-images-idx3-ubyte.gz"):
    x, y = fashion_data.load("train")
    name = "fashion-mnist (train)"
else:
    x, y, name = torch.rand(60000, 784), torch.randint(0, 10, (60000,)), "synthetic"


def train_rate(model, opt, batch):
    model.train()

    def epoch(xs, ys):
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()

    epoch(x[:2048], y[:2048])  # warm-up
    best = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch(x, y)
        best = max(best, len(x) / (time.perf_counter() - t0))
    return best


relu = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
train_relu = train_rate(relu, torch.optim.SGD(relu.parameters(), lr=0.01, momentum=0.9), 64)
bn = nn.Sequential(nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 256),
                   nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
train_bn = train_rate(bn, torch.optim.Adam(bn.parameters(), lr=1e-3), 128)

relu.eval()
one, big = x[:1].clone(), x[:1024].clone()
with torch.no_grad():
    for _ in range(200):
        relu(one)
    times = []
    for _ in range(5000):
        t0 = time.perf_counter()
        relu(one)
        times.append((time.perf_counter() - t0) * 1e6)
    relu(big)
    infer = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            relu(big)
        infer = max(infer, 20 * 1024 / (time.perf_counter() - t0))
print(json.dumps({"threads": threads, "data": name, "torch": torch.__version__, "train_relu": train_relu,
                  "train_bn": train_bn, "latency_us": statistics.median(times), "infer_1024": infer}))
