#!/usr/bin/python3
"""Golden values from PyTorch 1.13's BatchNorm1d for gradflow's BatchNorm tests.

Run:  /usr/bin/python3 tools/golden/make_batchnorm_golden.py > tests/golden/batchnorm.json

Three training steps on [8, 5] batches (forward, backward with a given upstream gradient),
the running statistics after them, then an evaluation-mode forward and backward.
"""
import json

import torch
import torch.nn as nn

torch.manual_seed(99)


def t(x):
    return x.detach().reshape(-1).tolist()


bn = nn.BatchNorm1d(5)  # eps 1e-5, momentum 0.1
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 0.5, -1.5, 2.0, 0.8]))
    bn.bias.copy_(torch.tensor([0.0, 0.1, -0.2, 0.3, 1.0]))
out = {"weight": t(bn.weight), "bias": t(bn.bias), "steps": []}
bn.train()
for step in range(3):
    x = (torch.randn(8, 5) * torch.tensor([1.0, 3.0, 0.1, 10.0, 1.0]) + torch.tensor([0.0, 5.0, -1.0, 2.0, 100.0]))
    x.requires_grad_(True)
    dy = torch.randn(8, 5)
    bn.zero_grad()
    y = bn(x)
    y.backward(dy)
    out["steps"].append({"x": t(x), "dy": t(dy), "y": t(y), "dx": t(x.grad), "dweight": t(bn.weight.grad),
                         "dbias": t(bn.bias.grad)})
out["running_mean"] = t(bn.running_mean)
out["running_var"] = t(bn.running_var)
out["num_batches_tracked"] = int(bn.num_batches_tracked)
bn.eval()
x = torch.randn(4, 5) * 2 + 1
x.requires_grad_(True)
dy = torch.randn(4, 5)
y = bn(x)
y.backward(dy)
out["eval"] = {"x": t(x), "dy": t(dy), "y": t(y), "dx": t(x.grad)}
print(json.dumps(out, indent=1))
