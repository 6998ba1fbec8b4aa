#!/usr/bin/python3
"""The constructor arguments of PyTorch classes and their defaults, as JSON, for
tests/test_registry.cpp: `torch_signatures.py torch.optim.AdamW torch.nn.MSELoss …` prints
{"torch.optim.AdamW": {"lr": 0.001, "betas": [0.9, 0.999], …, "params": "required"}, …}.
An argument without a default is "required"; a default JSON cannot hold is its repr."""
import importlib
import inspect
import json
import sys


def defaults(path):
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    out = {}
    for arg, p in inspect.signature(cls.__init__).parameters.items():
        if arg == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        # torch.optim's `required` sentinel and a missing default alike.
        if d is inspect.Parameter.empty or type(d).__name__ == "_RequiredParameter":
            out[arg] = "required"
        elif d is None or isinstance(d, (bool, int, float, str)):
            out[arg] = d
        elif isinstance(d, tuple):
            out[arg] = list(d)
        else:
            out[arg] = repr(d)
    return out


if __name__ == "__main__":
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        sys.exit("torch_signatures.py needs PyTorch: apt-get install python3-torch")
    print(json.dumps({path: defaults(path) for path in sys.argv[1:]}))
