#!/usr/bin/python3
"""Golden values from torch.optim (1.13): optimizer trajectories, gradient clipping, and
learning-rate schedules, for gradflow's tests.

Run:  /usr/bin/python3 tools/golden/make_optim_golden.py > tests/golden/optim.json

Each optimizer trains the same 4-8-3 tanh MLP (fixed initial weights) on 12 samples in order,
batch 4, cross-entropy, for 24 steps; the final parameters are recorded.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(7)


def t(x):
    return x.detach().reshape(-1).tolist()


def make_net():
    torch.manual_seed(11)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


x = torch.randn(12, 4)
y = torch.randint(0, 3, (12,))
out = {"x": t(x), "y": y.tolist(), "initial": {k: t(v) for k, v in make_net().state_dict().items()},
       "steps": 24, "batch_size": 4, "optimizers": []}

configs = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.1, "weight_decay": 1e-2}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("adagrad", {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 1e-2, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 1e-3}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 1e-2, "amsgrad": True}),
    ("adamw", {"lr": 0.01}),
    ("adamw", {}),  # torch.optim.AdamW's defaults: what `gradflow train --optimizer adamw` must run
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]
classes = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
           "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
for name, kw in configs:
    net = make_net()
    opt = classes[name](net.parameters(), **kw)
    step = 0
    while step < 24:
        for b in range(0, 12, 4):
            opt.zero_grad()
            F.cross_entropy(net(x[b:b + 4]), y[b:b + 4]).backward()
            opt.step()
            step += 1
    opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}
    out["optimizers"].append({"name": name, "options": opts,
                              "final": {k: t(v) for k, v in net.state_dict().items()}})

# ---- clipping: gradients of one batch, clipped by norm and by value ----
net = make_net()
F.cross_entropy(net(x), y).backward()
grads = [p.grad.clone() for p in net.parameters()]
out["clip"] = {"grads": [t(g) for g in grads]}
for max_norm in (0.05, 100.0):
    for p, g in zip(net.parameters(), grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
    out["clip"][f"norm_{max_norm}"] = {"total_norm": float(total), "grads": [t(p.grad) for p in net.parameters()]}
for p, g in zip(net.parameters(), grads):
    p.grad = g.clone()
torch.nn.utils.clip_grad_value_(net.parameters(), 0.01)
out["clip"]["value_0.01"] = [t(p.grad) for p in net.parameters()]

# ---- schedules: the rate used in each of 20 epochs ----
def rates(make_sched, epochs=20, losses=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make_sched(opt)
    seen = []
    for e in range(epochs):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if losses is None:
            sched.step()
        else:
            sched.step(losses[e])
    return seen

S = torch.optim.lr_scheduler
plateau_losses = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79995, 0.85, 0.9, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
                  0.7, 0.7, 0.7, 0.7]
out["schedules"] = {
    "step:5:0.5": rates(lambda o: S.StepLR(o, step_size=5, gamma=0.5)),
    "exponential:0.9": rates(lambda o: S.ExponentialLR(o, gamma=0.9)),
    "cosine:20": rates(lambda o: S.CosineAnnealingLR(o, T_max=20)),
    "cosine:8:0.001": rates(lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.001)),
    "warmup3+cosine": rates(lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=1 / 3, total_iters=3), S.CosineAnnealingLR(o, T_max=17)], milestones=[3])),
    "plateau:2:0.5": rates(lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5), losses=plateau_losses),
}
out["plateau_losses"] = plateau_losses
print(json.dumps(out, indent=1))
