"""The type stubs (python/gradflow/_gradflow/*.pyi) against the module they describe: mypy's
stubtest finds every name, signature and read-only property that differ (the allowlist has
what it says about every pybind11 module, with the reason)."""
import os
import subprocess
import sys

import gradflow as gf


def test_stubtest_finds_the_stubs_true_to_the_module():
    allowlist = os.path.join(os.path.dirname(__file__), "stubtest_allowlist.txt")
    done = subprocess.run([sys.executable, "-m", "mypy.stubtest", "gradflow._gradflow", "--allowlist", allowlist],
                          capture_output=True, text=True, env={**os.environ, "MYPY_CACHE_DIR": "/dev/null"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_layer_builders_come_from_the_registration_with_their_defaults_as_written():
    import inspect
    assert str(inspect.signature(gf.nn.leaky_relu)).startswith("(negative_slope: float = 0.01)")
    assert str(inspect.signature(gf.nn.batch_norm)).startswith("(eps: float = 1e-05, momentum: float = 0.1)")
    assert [k["builder"] for k in gf.layer_kinds()] == [n for n in gf.nn.__all__ if n not in ("activation", "mlp")]
    for kind in gf.layer_kinds():
        build = getattr(gf.nn, kind["builder"])
        spec = build(4) if kind["builder"] == "dense" else build()
        assert spec.kind == kind["name"]
    assert gf.nn.leaky_relu(negative_slope=0.2) != gf.nn.leaky_relu()
    import pytest
    with pytest.raises(TypeError):
        gf.nn.relu(alpha=1)
    with pytest.raises(ValueError, match="nn.dense: units must be a whole number"):
        gf.nn.dense(2.5)


def test_defaults_print_as_written_not_as_float32():
    """A float32 default (0.1f) shows in help() as 0.10000000149011612."""
    import re
    modules = [gf._gradflow, gf._gradflow.data]
    docs = [getattr(getattr(m, n), "__doc__", "") or "" for m in modules for n in dir(m) if not n.startswith("__")]
    long = [d for d in docs if re.search(r"= ?-?\d*\.\d{9,}", d)]
    assert not long, long
