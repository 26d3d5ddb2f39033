"""`fedhive sweep`: a 3×2 grid over 2 seeds on 2 workers, stopped mid-way and resumed."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.sweep.fixtures import write_tiny

GRID = ["server.lr=0.1,0.5,1.0", "server.optimizer=adam,sgd", "seed=0..1", "--jobs", "2"]


def _csv(path):
    return list(csv.DictReader(open(path))) if path.is_file() else []


def _summaries(sweep_dir):
    return {p.parent.name: p.stat().st_mtime_ns for p in sweep_dir.glob("*/summary.json")}


@pytest.mark.slow
def test_grid_runs_resumes_after_a_stop_and_skips_finished_runs(cli, tmp_path):
    config = write_tiny(tmp_path, "rounds: 6\n")
    sweep_dir = tmp_path / "runs/tiny"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "fedhive", "sweep", str(config), *GRID, "-q"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while sum(r["status"] == "done" for r in _csv(sweep_dir / "sweep.csv")) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    first = _csv(sweep_dir / "sweep.csv")
    finished = {r["run"] for r in first if r["status"] == "done"}
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(first) == 12 and 3 <= len(finished) < 12
    before = _summaries(sweep_dir)

    res = cli("sweep", str(config), *GRID, "-q", timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"12 runs, {len(finished)} finished already, {12 - len(finished)} to run" in res.stderr
    rows = _csv(sweep_dir / "sweep.csv")
    assert len(rows) == 12 and {r["status"] for r in rows} == {"done"}
    assert {(r["server.lr"], r["server.optimizer"], r["seed"]) for r in rows} == {
        (lr, opt, s) for lr in ("0.1", "0.5", "1.0") for opt in ("adam", "sgd") for s in ("0", "1")}
    after = _summaries(sweep_dir)
    assert {run for run in after if before.get(run) == after[run]} == finished  # only the missing ones ran
    for row in rows:  # a resumed run's metrics hold each round once
        lines = (sweep_dir / row["run"] / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 6 and row["rounds"] == "6" and float(row["final_test_accuracy"]) > 0

    again = cli("sweep", str(config), *GRID, "-q")
    assert again.returncode == 0 and "12 finished already, 0 to run" in again.stderr
    _check_summary(cli, sweep_dir, rows)


def test_a_failing_run_is_marked_and_the_others_go_on(cli, tmp_path):
    config = write_tiny(tmp_path, "rounds: 2\n")
    res = cli("sweep", str(config), "data.name=reference,file", "data.path=missing.npz", "--jobs", "1", "-q",
              timeout=600)
    assert res.returncode == 1
    rows = {r["data.name"]: r for r in _csv(tmp_path / "runs/tiny/sweep.csv")}
    assert rows["reference"]["status"] == "done" and rows["file"]["status"] == "failed"
    assert "missing.npz" in rows["file"]["error"] and "\n" not in rows["file"]["error"]
    assert f"run {rows['file']['run']} failed: " in res.stdout


@pytest.mark.parametrize("arg, message", [
    ("seed=0..", "sweep 'seed=0..': a range needs both ends, e.g. seed=0..4"),
    ("x=", "sweep 'x=': empty value"),
    ("nosuch=1,2", "config error: nosuch: unknown key"),
])
def test_bad_sweep_syntax_exits_2_with_one_line(cli, tmp_path, arg, message):
    res = cli("sweep", "seed=0..1", arg)
    assert res.returncode == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing ran


def _check_summary(cli, sweep_dir, rows):
    """summarize's mean and std over seeds equal a hand computation from summary.json."""
    import json
    import statistics

    res = cli("summarize", str(sweep_dir), "--target", "0.5")
    assert res.returncode == 0, res.stderr
    table = {r["setting"]: r for r in _csv(sweep_dir / "summary.csv")}
    assert len(table) == 6
    for (lr, opt), group in _by_setting(rows).items():
        finals = [json.loads((sweep_dir / r["run"] / "summary.json").read_text())["final_test_accuracy"] for r in group]
        row = table[f"server.lr={lr} server.optimizer={opt}"]
        assert row["seeds"] == "2"
        assert float(row["final_accuracy_mean"]) == pytest.approx(sum(finals) / 2, abs=1e-12)
        assert float(row["final_accuracy_std"]) == pytest.approx(statistics.stdev(finals), abs=1e-12)
        assert float(row["final_accuracy_min"]) == min(finals)
    md = (sweep_dir / "summary.md").read_text().splitlines()
    assert len(md) == 8 and "final acc" in md[0] and " ± " in md[2]


def _by_setting(rows):
    out = {}
    for r in rows:
        out.setdefault((r["server.lr"], r["server.optimizer"]), []).append(r)
    return out


@pytest.mark.slow
def test_a_point_with_engine_workers_runs_as_its_own_rank_group(cli, tmp_path):
    import json

    config = write_tiny(tmp_path, "rounds: 2\n")
    res = cli("sweep", str(config), "engine.workers=2", "seed=0", "--jobs", "1", "-q", timeout=600)
    assert res.returncode == 0, res.stderr
    (row,) = _csv(tmp_path / "runs/tiny/sweep.csv")
    env = json.loads((tmp_path / "runs/tiny" / row["run"] / "environment.json").read_text())
    assert row["status"] == "done" and row["rounds"] == "2"
    assert (env["engine"], env["workers"]) == ("distributed", 2)
