"""A run that does not compile never imports torch._dynamo (nor sympy, which a vmapped
F.cross_entropy would pull in), and importing it later (as torch.compile does) puts the
real module back under torch's own gradient path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLAIN_RUNS = """
    import sys, warnings
    from fedhive.config import load_config
    from fedhive.experiment import Experiment

    warnings.simplefilter("ignore")
    for overrides in (["rounds=2"],  # FedSGD, the fused gradient path
                      ["data.name=digits", "data.clients=10", "data.batch_size=20", "cohort.min=3",
                       "cohort.max=3", "algorithm=fedavg", "rounds=1", "evaluation.finetune_steps=1",
                       "model.name=cnn", "model.norm=batch", "model.channels=[4,8]", "model.dense=8"]):
        for engine in ("vectorized", "sequential"):
            rows = Experiment(load_config(None, [*overrides, f"engine.name={engine}"])).run(quiet=True, save=False)
            assert rows[-1]["test_accuracy"] is not None
    print(sorted(m for m in sys.modules if m.startswith("torch._dynamo") or m == "sympy"))
"""

COMPILE_AFTERWARDS = """
    import torch
    from fedhive.models.autodiff import grad

    f = lambda p: (p ** 3).sum()
    print(grad(f)(torch.tensor([1.0, 2.0])).tolist())
    import torch._dynamo
    print(type(torch._dynamo).__name__, torch._dynamo.compiled_autograd.__name__)
    print(grad(f)(torch.tensor([1.0, 2.0])).tolist())
    print(torch.compile(grad(f), backend="eager")(torch.tensor([3.0])).tolist())
"""


def python(code: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


@pytest.mark.slow
def test_a_run_without_compile_does_not_import_torch_dynamo_or_sympy():
    assert python(PLAIN_RUNS)[-1] == "[]"


def test_the_real_torch_dynamo_takes_over_once_imported():
    first, kind, again, compiled = python(COMPILE_AFTERWARDS)
    assert first == again == "[3.0, 12.0]"
    assert kind == "module torch._dynamo.compiled_autograd"
    assert compiled == "[27.0]"
