#!/usr/bin/python3
"""Golden values from PyTorch for gradflow's core: activations, losses, and an SGD trajectory.

Run:  /usr/bin/python3 tools/golden/make_core_golden.py > tests/golden/core.json
Needs Debian's python3-torch (1.13). Inputs are generated here and written out with the
results, so the C++ test reads exactly what torch saw.
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)


def t(x):
    return x.detach().reshape(-1).tolist()


out = {"torch_version": torch.__version__}

# ---- activations: forward and backward on a [4, 5] input, upstream gradient dy ----
x = torch.randn(4, 5) * 2
dy = torch.randn(4, 5)
out["x"] = t(x)
out["dy"] = t(dy)
acts = {
    "identity": nn.Identity(),
    "sigmoid": nn.Sigmoid(),
    "tanh": nn.Tanh(),
    "relu": nn.ReLU(),
    "leaky_relu": nn.LeakyReLU(0.01),
    "rrelu_eval": nn.RReLU(1 / 8, 1 / 3).eval(),
    "elu": nn.ELU(1.0),
    "selu": nn.SELU(),
    "softmax": nn.Softmax(dim=1),
}
prelu = nn.PReLU(num_parameters=5, init=0.25)
with torch.no_grad():
    prelu.weight.copy_(torch.tensor([0.25, -0.1, 0.5, 0.0, 1.5]))
acts["prelu_per_unit"] = prelu
out["prelu_weight"] = t(prelu.weight)
out["activations"] = {}
for name, m in acts.items():
    xi = x.clone().requires_grad_(True)
    y = m(xi)
    y.backward(dy)
    entry = {"y": t(y), "dx": t(xi.grad)}
    if name == "prelu_per_unit":
        entry["dweight"] = t(prelu.weight.grad)
    out["activations"][name] = entry

# ---- losses on logits z [6, 4] ----
z = torch.randn(6, 4) * 3
labels = torch.tensor([0, 3, 1, 2, 3, 0])
values = torch.rand(6, 4)
out["z"] = t(z)
out["labels"] = labels.tolist()
out["values"] = t(values)
losses = {}
for name, fn, target in [
    ("cross_entropy", nn.CrossEntropyLoss(), labels),
    ("bce_values", nn.BCEWithLogitsLoss(), values),
    ("bce_onehot", nn.BCEWithLogitsLoss(), F.one_hot(labels, 4).float()),
    ("mse_values", nn.MSELoss(), values),
]:
    zi = z.clone().requires_grad_(True)
    l = fn(zi, target)
    l.backward()
    losses[name] = {"loss": l.item(), "dz": t(zi.grad)}
out["losses"] = losses

# ---- minibatch SGD trajectory: in order, batch 4 (last batch 2), 3 epochs ----
net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
data_x = torch.randn(10, 3)
data_y = torch.randint(0, 3, (10,))
out["sgd"] = {
    "x": t(data_x),
    "y": data_y.tolist(),
    "initial": {k: t(v) for k, v in net.state_dict().items()},
    "lr": 0.1,
    "batch_size": 4,
    "epochs": 3,
}
opt = torch.optim.SGD(net.parameters(), lr=0.1)
step_losses = []
for epoch in range(3):
    for b in range(0, 10, 4):
        opt.zero_grad()
        l = F.cross_entropy(net(data_x[b:b + 4]), data_y[b:b + 4])
        l.backward()
        opt.step()
        step_losses.append(l.item())
out["sgd"]["losses"] = step_losses
out["sgd"]["final"] = {k: t(v) for k, v in net.state_dict().items()}

print(json.dumps(out, indent=1))
