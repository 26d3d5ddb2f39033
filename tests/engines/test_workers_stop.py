"""engine.workers=N: one Ctrl-C to the process group stops every rank with a checkpoint and a
summary; resume starts as many workers as the run had."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedhive.run_folder.checkpoint import list_checkpoints
from fedhive.run_folder.recorder import read_metrics

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["data.clients=40", "data.batch_size=50", "data.batches.min=1", "data.batches.max=2",
         "data.test_size=100", "cohort.min=4", "cohort.max=6", "engine.workers=2", "engine.timeout_s=60"]
# Each fedhive process started with RANK set leaves a file named after it: the ranks that
# ran (rank 0's plot helper, a `python -c` process, is not a rank).
RANK_MARKER = "import os, sys\nif 'RANK' in os.environ and 'RANKS_DIR' in os.environ and '-c' not in sys.orig_argv:\n" \
              "    open(os.path.join(os.environ['RANKS_DIR'], os.environ['RANK'] + '-' + str(os.getpid())), 'w').close()\n"


def fedhive(tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
    """`fedhive ARGS` in its own process group, recording the ranks it starts."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(RANK_MARKER)
    ranks = tmp_path / "ranks"
    ranks.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1", "RANKS_DIR": str(ranks)}
    return subprocess.Popen([sys.executable, "-m", "fedhive", *args], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **popen)


def ranks_that_ran(tmp_path: Path) -> list[str]:
    ranks = sorted(p.name.split("-")[0] for p in (tmp_path / "ranks").iterdir())
    for p in (tmp_path / "ranks").iterdir():
        p.unlink()
    return ranks


@pytest.mark.slow
def test_one_ctrl_c_to_the_process_group_stops_every_rank_resumably(tmp_path):
    run_dir = tmp_path / "runs" / "w"
    proc = fedhive(tmp_path, "run", *SMALL, "rounds=100000", "eval_every=1000", "checkpoint.every=1000",
                   f"output_dir={tmp_path / 'runs'}", "name=w", "-q")
    try:
        metrics, deadline = run_dir / "metrics.jsonl", time.monotonic() + 240
        while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no rows"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # what a Ctrl-C at the terminal does
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    stopped_at = len(read_metrics(run_dir))
    assert list_checkpoints(run_dir / "checkpoints")[-1][0] == stopped_at
    assert json.loads((run_dir / "summary.json").read_text())["rounds"] == stopped_at
    lines = err.strip().splitlines()
    assert lines[-1] == f"fedhive: stopped after round {stopped_at}; resume with: fedhive resume {run_dir}", err
    assert "Traceback" not in err and "stopped the other workers" not in err
    assert ranks_that_ran(tmp_path) == ["0", "1"]

    resumed = fedhive(tmp_path, "resume", str(run_dir), f"rounds={stopped_at + 2}", "-q")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert out.split() == [str(run_dir)]
    assert ranks_that_ran(tmp_path) == ["0", "1"]  # the run's two workers, not one process
    assert [r["round"] for r in read_metrics(run_dir)] == list(range(1, stopped_at + 3))
    assert "engine.workers=2" not in err


@pytest.mark.slow
def test_resume_with_force_starts_the_workers_asked_for(tmp_path):
    run_dir = tmp_path / "runs" / "w"
    first = fedhive(tmp_path, "run", *SMALL, "rounds=1", f"output_dir={tmp_path / 'runs'}", "name=w", "-q")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert ranks_that_ran(tmp_path) == ["0", "1"]
    refused = fedhive(tmp_path, "resume", str(run_dir), "rounds=2", "engine.workers=3")
    assert refused.wait(timeout=120) == 2
    assert ranks_that_ran(tmp_path) == []  # refused before any worker started
    resumed = fedhive(tmp_path, "resume", str(run_dir), "rounds=2", "engine.workers=3", "--force", "-q")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert ranks_that_ran(tmp_path) == ["0", "1", "2"]


@pytest.mark.slow
def test_when_rank_0_dies_the_survivor_prints_one_line(tmp_path):
    from fedhive.launch import free_port, worker_env

    port, run_dir = free_port(), tmp_path / "runs" / "x"
    args = [sys.executable, "-m", "fedhive", "run", *SMALL[:-2], "engine.name=distributed", "engine.timeout_s=10",
            "rounds=100000", "eval_every=1000", f"output_dir={tmp_path / 'runs'}", "name=x", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    procs = [subprocess.Popen(args, env=worker_env(r, 2, port, env), stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    try:
        metrics, deadline = run_dir / "metrics.jsonl", time.monotonic() + 240
        while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
            assert procs[0].poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        procs[0].kill()
        _, err = procs[1].communicate(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert procs[1].returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fedhive: error: distributed engine: round "), err
    log = Path(re.search(r"\(native log: (\S+)\)", lines[0]).group(1))
    assert log.parent == tmp_path and "c10d" in log.read_text()
