"""The examples run as a reader would run them, from the examples folder."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@pytest.mark.slow
def test_custom_algorithm_gives_one_accuracy_on_every_engine():
    out = subprocess.run([sys.executable, "custom_algorithm.py"], cwd=EXAMPLES, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    found = dict(re.findall(r"^(\w+) +final test accuracy (\d\.\d{4})$", out.stdout, re.M))
    assert list(found) == ["sequential", "vectorized", "distributed"]
    assert len(set(found.values())) == 1 and float(found["sequential"]) > 0.5  # 10 classes: chance is 0.1


@pytest.mark.slow
def test_quickstart_notebook_runs_and_compares_two_algorithms(monkeypatch):
    import nbformat  # the [test] extra installs nbformat, nbclient and ipykernel
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])  # the kernel imports this checkout's fedhive
    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stored clean
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    final = dict(re.findall(r"^(.+?) +final test accuracy (\d\.\d{4})$", text, re.M))
    assert list(final) == ["fedsgd + adam", "fedavg"]
    assert float(final["fedsgd + adam"]) >= 0.99  # the reference experiment's documented accuracy
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
