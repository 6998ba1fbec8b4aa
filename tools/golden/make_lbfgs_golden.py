#!/usr/bin/python3
"""Golden values from torch.optim.LBFGS (1.13) for gradflow's tests.

Run:  /usr/bin/python3 tools/golden/make_lbfgs_golden.py > tests/golden/lbfgs.json

The 4-8-3 tanh MLP of optim.json (same initial weights and 12 samples), full batch,
cross-entropy; each configuration takes 3 optimizer steps (3 calls of step(closure)), recording
each step's returned loss, the counts torch keeps (n_iter, func_evals) and the final parameters.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
golden = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "optim.json")))


def net_from_golden():
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for name, p in net.state_dict().items():
            p.copy_(torch.tensor(golden["initial"][name]).reshape(p.shape))
    return net


x = torch.tensor(golden["x"]).reshape(12, 4)
y = torch.tensor(golden["y"])
configs = [
    {"max_iter": 5},
    {"line_search_fn": "strong_wolfe", "max_iter": 4},
    {"lr": 0.5, "max_iter": 4, "max_eval": 5, "history_size": 3},
    {"line_search_fn": "strong_wolfe", "max_iter": 7, "history_size": 2, "tolerance_change": 1e-4},
]
out = {"steps": 3, "configs": []}
for kw in configs:
    net = net_from_golden()
    opt = torch.optim.LBFGS(net.parameters(), **kw)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    losses = [float(opt.step(closure)) for _ in range(3)]
    state = opt.state[next(iter(net.parameters()))]
    out["configs"].append({"options": kw, "losses": losses, "n_iter": state["n_iter"],
                           "func_evals": state["func_evals"],
                           "final": {k: v.reshape(-1).tolist() for k, v in net.state_dict().items()}})
json.dump(out, sys.stdout, indent=1)
print()
