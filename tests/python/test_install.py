"""Installing the package as Python's ecosystem expects: `pip install --no-build-isolation .` in a
venv, a wheel from `python3 -m build` installed into a second venv that passes a test file there,
and the metadata (importlib.metadata, pip show) — for the build folder on the path too."""
import os
import subprocess
import sys

import pytest

SOURCE = os.path.abspath(os.environ.get("GRADFLOW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("GRADFLOW_BUILD_DIR", os.path.join(SOURCE, "build"))
VERSION = "0.1.0"


def run(*args, cwd=None):
    # Without PYTHONPATH (ctest's points at the build folder): the venv's own install must answer.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["GRADFLOW_BUILD_DIR"] = BUILD
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def venv(path):
    # Debian's python3 (numpy, scikit-learn from its packages: --system-site-packages)
    run("/usr/bin/python3", "-m", "venv", "--system-site-packages", path)
    return os.path.join(path, "bin", "python3")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, SOURCE)
    wheels = list(out.glob("gradflow-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.startswith(f"gradflow-{VERSION}-"), wheels
    return wheels[0]


def test_pip_installs_the_package_into_a_venv_with_its_metadata(tmp_path):
    python = venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-q", SOURCE)
    where = run(python, "-c", "import gradflow, importlib.metadata as m; print(gradflow.__file__); "
                              "print(m.version('gradflow'))", cwd=tmp_path).split()
    assert where[0].startswith(str(tmp_path / "venv")) and where[1] == VERSION, where
    assert f"Version: {VERSION}" in run(python, "-m", "pip", "show", "gradflow")
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(SOURCE, "tests", "python",
                                                                                      "test_model.py"), cwd=tmp_path)
    assert " passed" in out and "failed" not in out, out


def test_a_wheel_installs_in_another_venv_and_passes_the_tests_there(wheel, tmp_path):
    python = venv(tmp_path / "venv2")
    run(python, "-m", "pip", "install", "--no-deps", "-q", wheel)
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(SOURCE, "tests", "python",
                                                                                      "test_core.py"), cwd=tmp_path)
    assert " passed" in out and "failed" not in out, out
    stubs = run(python, "-c", "import gradflow, os; d = os.path.dirname(gradflow.__file__); "
                              "print(sorted(os.listdir(os.path.join(d, '_gradflow'))), os.path.exists(os.path.join(d, "
                              "'py.typed')))")
    assert stubs.strip() == "['__init__.pyi', 'data.pyi'] True", stubs


def test_the_build_folder_on_the_path_has_the_metadata_too():
    env = {**os.environ, "PYTHONPATH": os.path.join(BUILD, "python")}
    done = subprocess.run(["/usr/bin/python3", "-c", "import importlib.metadata as m; print(m.version('gradflow'))"],
                          capture_output=True, text=True, env=env)
    assert done.stdout.strip() == VERSION, done.stderr
