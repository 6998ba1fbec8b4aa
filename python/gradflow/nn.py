"""Layer builders, as torch.nn's modules (the defaults are PyTorch's): gradflow.nn.dense(64),
gradflow.nn.leaky_relu(negative_slope=0.2), ...

Each builder is made here from the library's registration of its kind (layer_kinds(): the
arguments with their defaults as written and their meaning), so a kind registered in C++ is a
builder here with nothing else to write.
"""
import ast
import inspect

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


for _kind in _gradflow.layer_kinds():
    globals()[_kind["builder"]] = _builder(_kind)

__all__ = [k["builder"] for k in _gradflow.layer_kinds()] + ["activation"]
