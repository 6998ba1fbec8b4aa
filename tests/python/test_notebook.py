"""examples/python/lecture.ipynb runs from top to bottom (nbclient, headless); any error fails it."""
import os

import nbformat
from nbclient import NotebookClient

SOURCE = os.environ.get("GRADFLOW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_the_lecture_notebook_runs_and_its_claims_hold(tmp_path):
    nb = nbformat.read(os.path.join(SOURCE, "examples", "python", "lecture.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "one tanh hidden layer: 100%" in outputs
    assert "cross-validated accuracy" in outputs
    # Each diagnostic warning shows once (as a RuntimeWarning), naming its cause.
    lines = [line for line in outputs.splitlines() if " dead since epoch " in line or " saturated (" in line]
    assert lines, outputs
    assert all(outputs.count(line.split("RuntimeWarning: ")[-1]) == 1 for line in lines), lines
    assert "the learning rate (3) is too high" in outputs
