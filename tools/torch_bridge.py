#!/usr/bin/python3
"""Move gradflow models to and from PyTorch.

  torch_bridge.py to-torch MODEL.safetensors OUT.pt     # -> a pickled torch.nn.Sequential
  torch_bridge.py from-torch IN.pt MODEL.safetensors    # a pickled nn.Sequential -> gradflow model
  torch_bridge.py from-torch STATE.pt MODEL.safetensors --like TEMPLATE.safetensors
                                                        # a state_dict, with the architecture (and
                                                        # input statistics) of a gradflow model

As a library: load_sequential(path) -> (nn.Sequential, metadata) and
save_sequential(model, path, input_mean=None, input_std=None, class_names=None, loss=None).

A gradflow model file is safetensors whose tensor names and shapes are those of the
nn.Sequential's state_dict; __metadata__["gradflow.architecture"] lists the modules with
PyTorch's class and argument names. Needs only torch (no safetensors package).
"""
import json
import struct
import sys

import torch
import torch.nn as nn

DTYPES = {"F32": (torch.float32, 4), "I64": (torch.int64, 8)}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, t in header.items():
        dtype, size = DTYPES[t["dtype"]]
        begin, end = t["data_offsets"]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype)
        tensors[name] = flat.reshape(t["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        code = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def module_from(spec):
    kind = spec["type"]
    if kind == "Linear":
        return nn.Linear(spec["in_features"], spec["out_features"], bias=spec.get("bias", True))
    if kind == "BatchNorm1d":
        return nn.BatchNorm1d(spec["num_features"], eps=spec["eps"], momentum=spec["momentum"])
    if kind == "LeakyReLU":
        return nn.LeakyReLU(spec["negative_slope"])
    if kind == "RReLU":
        return nn.RReLU(spec["lower"], spec["upper"])
    if kind == "PReLU":
        return nn.PReLU(spec["num_parameters"], init=spec.get("init", 0.25))
    if kind == "ELU":
        return nn.ELU(spec["alpha"])
    if kind == "Softmax":
        return nn.Softmax(dim=spec.get("dim", 1))
    if kind == "Dropout":
        return nn.Dropout(spec["p"])
    return {"Identity": nn.Identity, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "ReLU": nn.ReLU, "SELU": nn.SELU}[kind]()


def spec_from(module, width):
    m = module
    if isinstance(m, nn.Linear):
        return {"type": "Linear", "in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.BatchNorm1d):
        return {"type": "BatchNorm1d", "num_features": m.num_features, "eps": m.eps, "momentum": m.momentum, "affine": True}
    if isinstance(m, nn.LeakyReLU):
        return {"type": "LeakyReLU", "negative_slope": m.negative_slope}
    if isinstance(m, nn.RReLU):
        return {"type": "RReLU", "lower": m.lower, "upper": m.upper}
    if isinstance(m, nn.PReLU):
        return {"type": "PReLU", "num_parameters": m.num_parameters}
    if isinstance(m, nn.ELU):
        return {"type": "ELU", "alpha": m.alpha}
    if isinstance(m, nn.Softmax):
        return {"type": "Softmax", "dim": 1}
    if isinstance(m, nn.Dropout):
        return {"type": "Dropout", "p": m.p}
    name = type(m).__name__
    if name in ("Identity", "Sigmoid", "Tanh", "ReLU", "SELU"):
        spec = {"type": name}
        if width is not None:
            spec["in_features"] = width
        return spec
    raise ValueError(f"gradflow has no equivalent of {name}")


def load_sequential(path):
    tensors, meta = read_safetensors(path)
    arch = json.loads(meta["gradflow.architecture"])
    model = nn.Sequential(*[module_from(s) for s in arch])
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model, meta


def save_sequential(model, path, input_mean=None, input_std=None, class_names=None, loss=None):
    arch, width = [], None
    for m in model:
        s = spec_from(m, width if not arch else None)
        if s["type"] == "Linear":
            width = s["out_features"]
        arch.append(s)
    first = model[0]
    features = first.in_features if isinstance(first, nn.Linear) else first.num_features
    meta = {"format": "pt", "gradflow.architecture": json.dumps(arch)}
    inp = {"features": features}
    if input_mean is not None:
        inp["mean"], inp["std"] = list(map(float, input_mean)), list(map(float, input_std))
    meta["gradflow.input"] = json.dumps(inp)
    if class_names:
        meta["gradflow.classes"] = json.dumps(class_names)
    if loss:
        meta["gradflow.loss"] = loss
    write_safetensors(path, model.state_dict(), meta)


def save_state_dict(state, path, like):
    """A bare state_dict has no architecture: take it, and the other metadata, from `like`."""
    _, meta = read_safetensors(like)
    model = nn.Sequential(*[module_from(s) for s in json.loads(meta["gradflow.architecture"])])
    model.load_state_dict(state, strict=True)  # checks every name and shape
    write_safetensors(path, model.state_dict(), meta)


if __name__ == "__main__":
    args = sys.argv[1:]
    like = None
    if "--like" in args:
        i = args.index("--like")
        like = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3 or args[0] not in ("to-torch", "from-torch"):
        sys.exit(__doc__)
    if args[0] == "to-torch":
        model, _ = load_sequential(args[1])
        torch.save(model, args[2])
    else:
        obj = torch.load(args[1])
        if isinstance(obj, nn.Module):
            save_sequential(obj, args[2])
        elif like:
            save_state_dict(obj, args[2], like)
        else:
            sys.exit(f"{args[1]} holds a state_dict: pass --like MODEL.safetensors for its architecture")
