"""Layer builders, as torch.nn's modules (the defaults are PyTorch's): gradflow.nn.dense(64),
gradflow.nn.leaky_relu(negative_slope=0.2), ...

Each builder is made here from the library's registration of its kind (layer_kinds(): the
arguments with their defaults as written and their meaning), so a kind registered in C++ is a
builder here with nothing else to write.
"""
import ast
import inspect
import numbers

from . import _gradflow

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def _builder(kind):
    params = [inspect.Parameter(a["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_TYPES[a["type"]],
                                default=inspect.Parameter.empty if a["default"] == "" else
                                a["default"] if a["type"] == "str" else ast.literal_eval(a["default"]))
              for a in kind["args"]]
    signature = inspect.Signature(params, return_annotation=_gradflow.LayerSpec)
    name = kind["builder"]

    def build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        return _gradflow._build_layer(name, **bound.arguments)

    build.__name__ = build.__qualname__ = name
    build.__module__ = __name__
    build.__signature__ = signature
    lines = [f"{kind['summary']} (torch.nn.{kind['torch_class']})."]
    lines += [f"  {a['name']}: {a['help']}" for a in kind["args"]]
    build.__doc__ = "\n".join(lines)
    return build


def activation(name: str) -> _gradflow.LayerSpec:
    """An activation by its name: relu, tanh, ... (layer_kinds())."""
    return _gradflow._activation(name)


def mlp(hidden_layer_sizes, activation="relu", batch_norm=False, dropout=0.0, init="default"):
    """The hidden layers of an MLP as blocks, Dense(units, init) [→ BatchNorm] → activation
    [→ Dropout(p)], one per size (the library's nn::mlp, which `gradflow train --layers` builds
    with too). activation, batch_norm, dropout and init: one value for every block, or a list
    with one per block."""
    sizes = [hidden_layer_sizes] if isinstance(hidden_layer_sizes, int) else list(hidden_layer_sizes)

    def per_block(name, value):
        values = list(value) if isinstance(value, (list, tuple)) else [value] * len(sizes)
        if len(values) != len(sizes):
            raise ValueError(f"mlp: {name} has {len(values)} values for {len(sizes)} blocks")
        return values

    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"mlp: hidden_layer_sizes must be positive whole numbers, got {hidden_layer_sizes!r}")
    acts = [a if isinstance(a, _gradflow.LayerSpec) else _gradflow._activation(a)
            for a in per_block("activation", activation)]
    return _gradflow._mlp([int(s) for s in sizes], acts, [bool(b) for b in per_block("batch_norm", batch_norm)],
                          [float(p) for p in per_block("dropout", dropout)], [str(i) for i in per_block("init", init)])


for _kind in _gradflow.layer_kinds():
    globals()[_kind["builder"]] = _builder(_kind)

__all__ = [k["builder"] for k in _gradflow.layer_kinds()] + ["activation", "mlp"]
