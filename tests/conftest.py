"""Shared fixtures: a small reference config and a CLI runner that uses this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedhive.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_config(tmp_path) -> Config:
    """The reference experiment, shortened: 5 rounds, writing under tmp_path."""
    return load_config(None, [f"output_dir={tmp_path / 'runs'}", "rounds=5"])


@pytest.fixture
def cli(tmp_path):
    """Run `python -m fedhive ARGS` in tmp_path with this checkout on the path."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        return subprocess.run(
            [sys.executable, "-m", "fedhive", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
        )

    return run
