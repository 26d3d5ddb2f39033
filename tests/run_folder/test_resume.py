"""Resume: a killed, stopped or finished run continues bit-exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fedhive.algorithms.registry import registered
from fedhive.cli import main
from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.run_folder.checkpoint import decode, list_checkpoints, save_checkpoint
from fedhive.run_folder.recorder import read_metrics
from fedhive.run_folder.resume import resume_experiment
from tests.test_algorithms import ALGORITHMS as CONTRACT_SETTINGS

REPO = Path(__file__).resolve().parents[2]
SMALL = ["data.clients=50", "data.batch_size=50", "data.batches.min=2", "data.batches.max=3",
         "cohort.min=3", "cohort.max=5", "data.test_size=100", "checkpoint.every=4"]
TIMING = ("round_s", "wall_s")

# One row per algorithm whose resume must be bit-exact: (id, overrides). Add a row per
# algorithm with state (server momentum, SCAFFOLD, DP with adaptive clipping, compression
# with error feedback) as it lands.
# The reference experiment's sizes (they override SMALL): with them the vectorized
# engine's derived chunking changes its float sums, so it must survive a resume too.
REFERENCE = ["data.clients=1000", "data.batch_size=1000", "data.batches.min=5", "data.batches.max=9",
             "data.test_size=1000", "cohort.min=20", "cohort.max=29"]
ALGORITHMS = [
    ("reference", REFERENCE),
    ("fedsgd_adam_sequential", ["engine.name=sequential"]),
    ("fedavg_sgd", ["algorithm=fedavg", "server.optimizer=sgd", "server.aggregate=weighted_mean"]),
    ("fedavgm", ["algorithm=fedavgm"]),
    ("scaffold", ["algorithm=scaffold"]),
    ("ditto", ["algorithm=ditto"]),
    ("ifca", ["algorithm=ifca", "algorithm.clusters=3"]),
    ("apfl", ["algorithm=apfl"]),
    ("fedrep", ["algorithm=fedrep", "model.name=mlp", "model.hidden=[8]", "algorithm.head_epochs=1"]),
    ("dp_adaptive_clip_topk_ef", ["privacy.mechanism=central", "privacy.accountant=rdp", "cohort.min=4", "cohort.max=4",
                                  "privacy.adaptive_clip.enabled=true", "privacy.noise_multiplier=0.3",
                                  "compression.name=topk", "compression.fraction=0.5", "compression.error_feedback=true"]),
    ("system_sync", ["algorithm=fedavg", "server.optimizer=sgd", "server.aggregate=weighted_mean",
                     "system.speed.dist=lognormal", "system.speed.sigma=1.0", "round.deadline=0.1",
                     "round.straggler_policy=partial", "round.overcommit=1.5", "system.dropout=0.1"]),
    ("fedprox_stragglers", ["algorithm=fedprox", "client.epochs=3", "server.optimizer=sgd",
                            "server.aggregate=weighted_mean", "system.stragglers.fraction=0.6",
                            "round.straggler_policy=fedprox_epochs"]),
    # Schedules are functions of the rounds already run, not of `rounds` (which a resume extends).
    ("lr_schedules", ["algorithm=scaffold", "server.optimizer=momentum",
                      "client.lr_schedule={name: cosine, decay_rounds: 8, warmup: 2}",
                      "server.lr_schedule={name: step, gamma: 0.7, step_size: 3}"]),
    ("async_fedbuff", ["mode=async", "algorithm=fedavg", "server.optimizer=sgd", "server.aggregate=weighted_mean",
                       "system.speed.dist=lognormal", "asynchronous.concurrency=6", "asynchronous.buffer_size=3",
                       "asynchronous.staleness=polynomial"]),
]


def uninterrupted(tmp_path: Path, overrides: list[str], rounds: int) -> Path:
    config = load_config(None, [*SMALL, *overrides, f"rounds={rounds}", f"output_dir={tmp_path}", "name=uninterrupted"])
    exp = Experiment(config)
    exp.run()
    return exp.run_dir


def assert_same_run(a: Path, b: Path) -> None:
    """Metrics (without timings), final params, server state and client states bit-identical."""
    rows_a, rows_b = read_metrics(a), read_metrics(b)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING} for r in rows]  # noqa: E731
    assert [r["round"] for r in rows_b] == list(range(1, len(rows_b) + 1))  # no duplicates, no gaps
    assert strip(rows_a) == strip(rows_b)
    final_a, final_b = (decode(list_checkpoints(d / "checkpoints")[-1][1].read_bytes()) for d in (a, b))
    assert final_a["round"] == final_b["round"] == len(rows_a)
    assert torch.equal(final_a["params"], final_b["params"])
    assert final_a["server_state_spec"] == final_b["server_state_spec"]
    assert len(final_a["server_state"]) == len(final_b["server_state"])
    for x, y in zip(final_a["server_state"], final_b["server_state"]):
        assert torch.equal(torch.as_tensor(x), torch.as_tensor(y))
    assert _flat(final_a["parts"]) == _flat(final_b["parts"])
    assert read_metrics(b) == [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert len((b / "metrics.csv").read_text().splitlines()) == len(rows_b) + 1


def _flat(tree, prefix=""):
    """A nested dict of tensors as {path: list of values}, for exact comparison."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, (list, tuple)):  # e.g. an asynchronous run's event queue and buffer
        return {k: v for i, sub in enumerate(tree) for k, v in _flat(sub, f"{prefix}/{i}").items()}
    return {prefix: tree.tolist() if isinstance(tree, torch.Tensor) else tree}


def start_run(tmp_path: Path, overrides: list[str]) -> subprocess.Popen:
    """A real `fedhive run` process, long enough that it is always killed mid-run."""
    cmd = [sys.executable, "-m", "fedhive", "run", "-q", *SMALL, *overrides, "rounds=100000",
           f"output_dir={tmp_path}", "name=killed"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(proc: subprocess.Popen, run_dir: Path, n: int, timeout: float = 240) -> None:
    """Block until metrics.jsonl has at least n rows (the process must still be running)."""
    path, deadline = run_dir / "metrics.jsonl", time.monotonic() + timeout
    while not (path.is_file() and path.read_bytes().count(b"\n") >= n):
        if proc.poll() is not None:
            pytest.fail(f"run exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {n} rows after {timeout} s")
        time.sleep(0.02)


# The contract table's resume row: every registered algorithm, none named here.
# Settings come from the contract table (a split model for FedPer/FedRep).
REGISTERED = [pytest.param(CONTRACT_SETTINGS[name], id=f"algorithm_{name}", marks=pytest.mark.slow) for name in registered()]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [*(pytest.param(o, id=name) for name, o in ALGORITHMS), *REGISTERED])
def test_kill_9_then_resume_is_bit_identical(overrides, tmp_path):
    proc = start_run(tmp_path, overrides)
    run_dir = tmp_path / "killed"
    wait_for_rows(proc, run_dir, 6)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    rows_at_kill = len(read_metrics(run_dir))
    target = rows_at_kill + 3

    assert main(["resume", str(run_dir), f"rounds={target}", "-q"]) == 0

    assert_same_run(uninterrupted(tmp_path, overrides, target), run_dir)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_leaves_a_resumable_folder(signum, code, tmp_path):
    proc = start_run(tmp_path, [])
    run_dir = tmp_path / "killed"
    wait_for_rows(proc, run_dir, 3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code
    stopped_at = len(read_metrics(run_dir))
    assert f"stopped after round {stopped_at}; resume with: fedhive resume {run_dir}" in err
    assert "Traceback" not in err
    assert list_checkpoints(run_dir / "checkpoints")[-1][0] == stopped_at
    assert json.loads((run_dir / "summary.json").read_text())["rounds"] == stopped_at
    assert (run_dir / "plots" / "loss.png").is_file()

    assert main(["resume", str(run_dir), f"rounds={stopped_at + 2}", "-q"]) == 0

    assert_same_run(uninterrupted(tmp_path, [], stopped_at + 2), run_dir)


def small_run(tmp_path: Path, *overrides: str) -> Path:
    exp = Experiment(load_config(None, [*SMALL, f"output_dir={tmp_path}", "name=run", *overrides]))
    exp.run()
    return exp.run_dir


def test_resume_cuts_rows_after_the_checkpoint_and_a_torn_line(tmp_path):
    run_dir = small_run(tmp_path, "rounds=6")  # checkpoints at rounds 4 and 6
    (run_dir / "checkpoints" / "round-000006.ckpt").unlink()  # as if killed before it
    kept = (run_dir / "metrics.jsonl").read_bytes().splitlines(keepends=True)[:4]
    with open(run_dir / "metrics.jsonl", "ab") as f:
        f.write(b'{"round": 7, "train_lo')  # a row torn by the kill

    exp = resume_experiment(run_dir, ["rounds=9"])

    assert exp.round == 4
    assert (run_dir / "metrics.jsonl").read_bytes() == b"".join(kept)  # the valid prefix, untouched
    exp.run()
    assert_same_run(uninterrupted(tmp_path, [], 9), run_dir)


def test_a_truncated_checkpoint_resumes_from_the_previous_one(tmp_path):
    run_dir = small_run(tmp_path, "rounds=9")  # checkpoints at rounds 4, 8 and 9
    newest = run_dir / "checkpoints" / "round-000009.ckpt"
    newest.write_bytes(newest.read_bytes()[:-100])

    with pytest.warns(UserWarning, match="round-000009.ckpt is unreadable: checksum mismatch"):
        exp = resume_experiment(run_dir, ["rounds=10"])

    assert exp.round == 8 and len(read_metrics(run_dir)) == 8
    exp.run()
    assert_same_run(uninterrupted(tmp_path, [], 10), run_dir)


def test_a_finished_run_is_extended(tmp_path, capsys):
    run_dir = small_run(tmp_path, "rounds=5")
    assert main(["resume", str(run_dir), "-q"]) == 0  # already complete: nothing to run
    assert len(read_metrics(run_dir)) == 5
    assert main(["resume", str(run_dir), "-q", "rounds=8"]) == 0
    assert json.loads((run_dir / "summary.json").read_text())["rounds"] == 8
    assert "rounds: 8" in (run_dir / "config.yaml").read_text()
    assert_same_run(uninterrupted(tmp_path, [], 8), run_dir)


def test_a_result_changing_override_is_refused_naming_the_fields(tmp_path, capsys):
    run_dir = small_run(tmp_path, "rounds=4")
    before = (run_dir / "metrics.jsonl").read_bytes()

    assert main(["resume", str(run_dir), "rounds=6", "server.lr=0.5", "seed=3"]) == 2
    err = capsys.readouterr().err
    assert err == ("fedhive: error: resume would change the results: seed (0 -> 3), server.1.lr (1.0 -> 0.5); "
                   "pass --force to resume anyway\n")
    assert (run_dir / "metrics.jsonl").read_bytes() == before

    assert main(["resume", str(run_dir), "rounds=6", "server.lr=0.5", "engine.name=sequential", "--force", "-q"]) == 0
    err = capsys.readouterr().err
    assert "resuming with changed fields (--force): engine.name ('vectorized' -> 'sequential'), server.1.lr" in err
    assert len(read_metrics(run_dir)) == 6


def test_a_checkpoint_from_before_a_field_existed_resumes(tmp_path):
    run_dir = small_run(tmp_path, "rounds=4")
    path = list_checkpoints(run_dir / "checkpoints")[-1][1]
    state = decode(path.read_bytes())
    del state["config"]["client"]["epochs"]  # as written before `client.epochs` was added
    state["config_hash"] = "older"
    save_checkpoint(path.parent, 4, state, keep=3)
    assert resume_experiment(run_dir, ["rounds=5"]).round == 4
    state["config"]["client"]["lr"] = 0.5  # a real change is still refused
    save_checkpoint(path.parent, 4, state, keep=3)
    with pytest.raises(UserError, match=r"client.lr \(0.5 -> 0.1\)"):
        resume_experiment(run_dir, ["rounds=5"])


def test_resume_errors_are_one_line(tmp_path, capsys):
    run_dir = small_run(tmp_path, "rounds=4")
    for args, expected in [
        ([str(tmp_path / "nope")], "not a run folder (no config.yaml)"),
        ([str(run_dir), "rounds=2"], "rounds: 2 is less than the 4 rounds already run"),
        ([str(run_dir), "rounds=abc"], "rounds: Input should be a valid integer"),
    ]:
        assert main(["resume", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err


def test_resume_without_a_checkpoint_starts_over(tmp_path):
    run_dir = small_run(tmp_path, "rounds=3", "checkpoint.every=0")
    for ckpt in (run_dir / "checkpoints").iterdir():
        ckpt.unlink()
    with pytest.warns(UserWarning, match="no checkpoint yet; starting again from round 0"):
        exp = resume_experiment(run_dir)
    assert exp.round == 0 and (run_dir / "metrics.jsonl").read_bytes() == b""
    exp.run()
    assert len(read_metrics(run_dir)) == 3

