#!/usr/bin/python3
"""A model file written from PyTorch (tools/torch_bridge.py), with torch's predictions, for
gradflow's test that it loads torch models and predicts what torch predicted.

Run:  /usr/bin/python3 tools/golden/make_torch_checkpoint.py tests/golden
Writes torch_model.safetensors and torch_model_expected.json.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from torch_bridge import load_sequential, save_sequential  # noqa: E402

out_dir = sys.argv[1]
torch.manual_seed(5)
model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 8), nn.PReLU(8),
                      nn.Linear(8, 8), nn.ELU(0.5), nn.Linear(8, 3), nn.Softmax(dim=1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(64, 6) * 2 + 1
y = torch.randint(0, 3, (64,))
model.train()
for _ in range(20):  # move the weights and the BN statistics away from their initial values
    opt.zero_grad()
    F.nll_loss(torch.log(model(x)), y).backward()
    opt.step()
model.eval()
path = os.path.join(out_dir, "torch_model.safetensors")
save_sequential(model, path, class_names=["a", "b", "c"], loss="cross_entropy")
probe = torch.randn(5, 6) * 2 + 1
with torch.no_grad():
    probs = model(probe)
    again, _ = load_sequential(path)
    assert torch.equal(again(probe), probs)
with open(os.path.join(out_dir, "torch_model_expected.json"), "w") as f:
    json.dump({"x": probe.reshape(-1).tolist(), "probabilities": probs.reshape(-1).tolist()}, f, indent=1)
