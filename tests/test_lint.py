"""ruff, with the config in pyproject.toml, finds nothing in the package, tests, examples or bench."""

import subprocess
import sys

from tests.conftest import REPO


def test_ruff_is_clean():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "fedhive", "tests", "examples", "bench"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
