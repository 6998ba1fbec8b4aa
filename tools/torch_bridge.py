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
import inspect
import json
import struct
import sys

if __name__ == "__main__":
    # The usage needs no PyTorch; anything else says in one line how to get it.
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        sys.exit("torch_bridge.py: needs PyTorch (Debian: apt-get install python3-torch, then run it with "
                 "/usr/bin/python3)")

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


def _arguments(cls):
    """The constructor arguments of a torch.nn class (device and dtype aside)."""
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "device", "dtype")]


def module_from(spec):
    """The torch.nn module a gradflow architecture entry describes: the class its "type" names
    (gradflow stores PyTorch's class names), given the entry's arguments that the class takes
    (gradflow's own, such as a Linear's "init", are not passed). No kind is listed here: which
    kinds exist is gradflow's registry (src/layer_kinds.cpp), read through the model file."""
    cls = getattr(nn, spec["type"], None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"torch.nn has no module {spec['type']}")
    names = _arguments(cls)
    return cls(**{k: v for k, v in spec.items() if k in names})


def spec_from(module, width):
    """A torch.nn module as a gradflow architecture entry: its class name and the constructor
    arguments the module holds (a Linear's bias: whether it has one). gradflow checks the kind
    and the arguments when it loads the file."""
    cls = type(module)
    spec = {"type": cls.__name__}
    for name in _arguments(cls):
        if hasattr(module, name):
            v = getattr(module, name)
            spec[name] = (v is not None) if v is None or isinstance(v, torch.Tensor) else v
    if cls.__name__ == "Softmax" and spec.get("dim") is None:
        spec["dim"] = 1  # nn.Softmax() picks dim 1 for 2-D input
    if width is not None and "in_features" not in spec and "num_features" not in spec:
        spec["in_features"] = width
    return spec


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


def export_file(src, dst):
    """to-torch: a gradflow model file -> a TorchScript file."""
    model, meta = to_torch(src)
    torch.jit.save(torch.jit.script(model), dst, _extra_files={"gradflow.json": json.dumps(meta)})


def import_file(src, dst, like=None):
    """from-torch: TorchScript from to-torch, a pickled nn.Sequential or a state_dict (with the
    architecture of the gradflow model `like`) -> a gradflow model file."""
    try:
        extra = {"gradflow.json": ""}
        scripted = torch.jit.load(src, _extra_files=extra)
    except RuntimeError:
        scripted = None
    if scripted is not None:
        from_script(scripted, extra["gradflow.json"], dst)
        return
    obj = torch.load(src)
    if isinstance(obj, nn.Module):
        stats, k = split_input_modules([(type(m).__name__, dict(m.named_buffers())) for m in obj])
        save_sequential(nn.Sequential(*list(obj)[k:]), dst, stats.get("mean"), stats.get("std"))
    elif like:
        save_state_dict(obj, dst, like)
    else:
        sys.exit(f"{src} holds a state_dict: pass --like MODEL.safetensors for its architecture")


if __name__ == "__main__":
    args = sys.argv[1:]
    like = None
    if "--like" in args:
        i = args.index("--like")
        like = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3 or args[0] not in ("to-torch", "from-torch"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    if args[0] == "to-torch":
        export_file(args[1], args[2])
    else:
        import_file(args[1], args[2], like)
