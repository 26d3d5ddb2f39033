"""engine.workers: config rules, the worker environment, and stopping all workers when one fails."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.launch import launcher_gone, should_spawn, supervise, worker_env


def test_workers_imply_the_distributed_engine():
    implied = load_config(None, ["engine.workers=2"]).engine
    assert (implied.name, implied.local) == ("distributed", "vectorized")
    assert load_config(None, []).engine.name == "vectorized"
    explicit = load_config(None, ["engine.workers=2", "engine.name=sequential"]).engine  # as in reference.yaml
    assert (explicit.name, explicit.local) == ("distributed", "sequential")
    with pytest.raises(UserError, match="engine: workers > 1 runs engine 'sequential' on each rank, but local"):
        load_config(None, ["engine.workers=2", "engine.name=sequential", "engine.local=vectorized"])
    with pytest.raises(UserError, match="engine.timeout_s"):
        load_config(None, ["engine.timeout_s=0"])
    with pytest.raises(UserError, match="engine.backend"):
        load_config(None, ["engine.backend=mpi"])


def test_should_spawn_only_outside_a_launcher(monkeypatch):
    two = load_config(None, ["engine.workers=2"]).engine
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert should_spawn(two) and not should_spawn(load_config(None, []).engine)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not should_spawn(two)


def test_worker_env_is_torchruns():
    env = worker_env(1, 3, 29500, base={"PATH": "/bin"})
    assert {k: env[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")} == {
        "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    assert int(env["OMP_NUM_THREADS"]) >= 1
    assert worker_env(0, 2, 1, base={"OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] == "4"


def test_a_worker_notices_that_its_launcher_is_gone(monkeypatch):
    """Workers live in their own sessions: a launcher killed with -9 leaves them to notice
    by themselves (their parent changes) and stop with a checkpoint."""
    assert worker_env(0, 2, 1, base={})["FEDHIVE_LAUNCHER_PID"] == str(os.getpid())
    monkeypatch.delenv("FEDHIVE_LAUNCHER_PID", raising=False)
    assert not launcher_gone()  # not a spawned worker
    monkeypatch.setenv("FEDHIVE_LAUNCHER_PID", str(os.getppid()))
    assert not launcher_gone()
    monkeypatch.setenv("FEDHIVE_LAUNCHER_PID", str(os.getppid() + 1))
    assert launcher_gone()


def test_supervise_stops_the_others_and_names_the_failed_rank(capsys):
    py = sys.executable
    procs = [subprocess.Popen([py, "-c", "import time; time.sleep(60)"]),
             subprocess.Popen([py, "-c", "raise SystemExit(3)"])]
    assert supervise(procs, poll_s=0.01) == 3
    assert procs[0].returncode is not None  # stopped, not left running
    assert "worker rank 1 exited with status 3; stopped the other workers" in capsys.readouterr().err


def test_supervise_returns_zero_when_all_succeed():
    procs = [subprocess.Popen([sys.executable, "-c", "pass"]) for _ in range(2)]
    assert supervise(procs, poll_s=0.01) == 0
