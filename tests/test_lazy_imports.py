"""`fedhive --help` and config errors answer without importing torch or matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib")


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "fedhive", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    # -X importtime writes "import time: self | cumulative | module" lines to stderr.
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    return proc, {ln.rsplit("|", 1)[-1].strip() for ln in lines}


@pytest.mark.parametrize("args, code", [
    (["--help"], 0),
    (["run", "--help"], 0),
    (["run", "rounds=-1"], 2),
    (["validate", "engine.name=warp"], 2),
    (["run", "missing.yaml"], 2),
])
def test_no_heavy_imports(args, code):
    proc, modules = imported_modules(*args)
    assert proc.returncode == code, proc.stderr[-500:]
    assert "fedhive.cli" in modules  # the importtime lines were read
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_a_run_without_dp_does_not_import_dp_accounting(tmp_path):
    proc, modules = imported_modules("run", "-q", "rounds=1", f"output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "fedhive.privacy.accounting" in modules or "fedhive.experiment" in modules
    assert not {m for m in modules if m.split(".")[0] == "dp_accounting"}


# Packages a plain run (no DP, no secure aggregation, no tracking, no plots) never needs.
OPTIONAL = ("matplotlib", "dp_accounting", "rich", "pandas", "cryptography", "sklearn", "scipy", "h5py",
            "orjson", "mlflow", "tensorboard", "torch._dynamo", "torch._inductor")


def test_a_plain_run_imports_no_optional_package():
    code = ("import sys\n"
            "import fedhive.cli, fedhive.experiment\n"
            "from fedhive.config import load_config\n"
            "exp = fedhive.experiment.Experiment(load_config(None, ['rounds=2']))\n"
            "exp.run(save=False)\n"
            "assert exp.history[-1]['round'] == 2\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-500:]
    modules = set(proc.stdout.split())
    assert {"fedhive.cli", "fedhive.experiment", "torch"} <= modules  # the list was read
    loaded = sorted(m for m in modules for p in OPTIONAL if m == p or m.startswith(p + "."))
    assert loaded == []


def test_a_cli_run_draws_its_plots_without_importing_matplotlib(tmp_path):
    # A helper process draws them (fedhive.reports.plot_process); they are there on return.
    proc, modules = imported_modules("run", "-q", "rounds=1", "name=r", f"output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "fedhive.experiment" in modules  # the importtime lines were read
    assert not {m for m in modules if m.split(".")[0] == "matplotlib"}
    assert sorted(p.name for p in (tmp_path / "r" / "plots").iterdir()) == ["accuracy.png", "loss.png"]
