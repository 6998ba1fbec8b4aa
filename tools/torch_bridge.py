#!/usr/bin/python3
"""Move gradflow models to and from PyTorch.

  torch_bridge.py to-torch MODEL.safetensors OUT.pt     # -> TorchScript: torch.jit.load(OUT.pt)
  torch_bridge.py from-torch IN.pt MODEL.safetensors    # TorchScript from to-torch, or a pickled
                                                        # nn.Sequential -> gradflow model
  torch_bridge.py from-torch STATE.pt MODEL.safetensors --like TEMPLATE.safetensors
                                                        # a state_dict, with the architecture (and
                                                        # input statistics) of a gradflow model

The exported module computes what `gradflow predict` computes on raw inputs: when the model
fills missing values or standardizes its inputs, its first modules are Impute (NaN -> the
training set's mean/median) and Standardize ((x - mean) / std), with those statistics as
buffers, then the layers. It is TorchScript so that it loads with torch alone
(torch.jit.load in Python, torch::jit::load in C++), carries the gradflow metadata (class
names, loss, feature names) as the extra file "gradflow.json", and from-torch brings all of it
back. Module k of the layers is layer k of the gradflow model.

As a library: load_sequential(path) -> (nn.Sequential of the layers, metadata),
to_torch(path) -> nn.Sequential with the input modules, and
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


class Impute(nn.Module):
    """A missing input (NaN) becomes the training set's statistic for that feature."""

    def __init__(self, fill):
        super().__init__()
        self.register_buffer("fill", torch.tensor(fill, dtype=torch.float32))

    def forward(self, x):
        return torch.where(torch.isnan(x), self.fill, x)


class Standardize(nn.Module):
    """(x - mean) / std per feature, in float32 as gradflow computes it (std < 1e-8: centred only)."""

    def __init__(self, mean, std):
        super().__init__()
        std = torch.tensor(std, dtype=torch.float32)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.where(std < 1e-8, torch.ones_like(std), std))

    def forward(self, x):
        return (x - self.mean) / self.std


INPUT_MODULES = ("Impute", "Standardize")


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


def to_torch(path):
    """The gradflow model as one nn.Sequential on raw inputs: [Impute] [Standardize] layers..."""
    model, meta = load_sequential(path)
    inp = json.loads(meta.get("gradflow.input", "{}"))
    front = []
    if "fill" in inp:
        front.append(Impute(inp["fill"]))
    if "mean" in inp:
        front.append(Standardize(inp["mean"], inp["std"]))
    return nn.Sequential(*front, *model), meta


def split_input_modules(named):
    """[(kind, module-or-state)] of a model's children -> (input statistics, number of input modules)."""
    stats, k = {}, 0
    for kind, tensors in named:
        if kind not in INPUT_MODULES:
            break
        if kind == "Impute":
            stats["fill"] = tensors["fill"].tolist()
        else:
            stats["mean"], stats["std"] = tensors["mean"].tolist(), tensors["std"].tolist()
        k += 1
    return stats, k


def from_script(scripted, extra, path):
    """A TorchScript module written by to-torch (possibly fine-tuned since) -> gradflow model file."""
    if not extra:
        sys.exit("this TorchScript file has no gradflow.json (not written by to-torch): export the model as a "
                 "pickled nn.Sequential, or its state_dict with --like MODEL.safetensors")
    meta = json.loads(extra)
    children = list(scripted.named_children())
    named = [(m.original_name, dict(m.named_buffers())) for _, m in children]
    stats, k = split_input_modules(named)
    state = {}
    for key, t in scripted.state_dict().items():
        i, rest = key.split(".", 1)
        if int(i) >= k:
            state[f"{int(i) - k}.{rest}"] = t
    model = nn.Sequential(*[module_from(s) for s in json.loads(meta["gradflow.architecture"])])
    model.load_state_dict(state, strict=True)  # checks every name and shape
    inp = json.loads(meta.get("gradflow.input", "{}"))
    for key in ("mean", "std", "fill"):
        inp.pop(key, None)
    inp.update(stats)
    if "std" in inp:  # a constant feature's std is stored as it was measured (< 1e-8), not as the 1 used
        old = json.loads(meta.get("gradflow.input", "{}")).get("std")
        if old:
            inp["std"] = [o if o < 1e-8 and n == 1.0 else n for o, n in zip(old, inp["std"])]
    meta["gradflow.input"] = json.dumps(inp)
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
        model, meta = to_torch(args[1])
        torch.jit.save(torch.jit.script(model), args[2], _extra_files={"gradflow.json": json.dumps(meta)})
    else:
        try:
            extra = {"gradflow.json": ""}
            scripted = torch.jit.load(args[1], _extra_files=extra)
        except RuntimeError:
            scripted = None
        if scripted is not None:
            from_script(scripted, extra["gradflow.json"], args[2])
            sys.exit(0)
        obj = torch.load(args[1])
        if isinstance(obj, nn.Module):
            stats, k = split_input_modules([(type(m).__name__, dict(m.named_buffers())) for m in obj])
            save_sequential(nn.Sequential(*list(obj)[k:]), args[2], stats.get("mean"), stats.get("std"))
        elif like:
            save_state_dict(obj, args[2], like)
        else:
            sys.exit(f"{args[1]} holds a state_dict: pass --like MODEL.safetensors for its architecture")
