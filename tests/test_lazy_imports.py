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
