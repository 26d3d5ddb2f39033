"""The distributed engine gives the one-process result on 1, 2 and 3 ranks (gloo, CPU), and a
lost rank ends the run with an error naming it instead of a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedhive.algorithms.registry import registered
from fedhive.config import load_config
from fedhive.experiment import Experiment
from fedhive.launch import free_port, worker_env
from fedhive.run_folder.recorder import read_metrics
from tests.engines.distributed_cases import run_case
from tests.test_algorithms import ALGORITHMS as CONTRACT  # each algorithm's contract-table settings

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("distributed_cases.py")
SMALL = ["rounds=3", "data.clients=40", "data.batch_size=50", "data.batches.min=1", "data.batches.max=4",
         "data.test_size=200", "cohort.min=4", "cohort.max=7"]
# One line per case; every case runs on 1, 2 and 3 ranks and must match one process.
CASES = {
    "reference": {"overrides": SMALL},
    "fedavg": {"overrides": [*SMALL, "algorithm=fedavg", "server.aggregate=weighted_mean",
                             "server.optimizer=sgd"]},
    "mean_all_gather": {"overrides": [*SMALL, "server.aggregate=mean"], "gather": True},
    "empty_slices": {"overrides": [*SMALL, "cohort.min=1", "cohort.max=2"]},
    "sequential_local": {"overrides": [*SMALL, "engine.local=sequential"]},
    "client_state": {"overrides": [*SMALL, "data.clients=9"], "stateful": True},
    "median": {"overrides": [*SMALL, "server.aggregate=median"]},
    "krum": {"overrides": [*SMALL, "cohort.min=6", "server.aggregate=krum"]},
    "scaffold": {"overrides": [*SMALL, "data.clients=9", "algorithm=scaffold"]},
    "ditto": {"overrides": [*SMALL, "data.clients=9", "algorithm=ditto"]},
    "ifca": {"overrides": [*SMALL, "data.clients=9", "algorithm=ifca"]},
    "lr_schedules": {"overrides": [*SMALL, "data.clients=9", "algorithm=scaffold",
                                   "client.lr_schedule={name: cosine, decay_rounds: 3, warmup: 1}",
                                   "server.lr_schedule={name: exponential, gamma: 0.5}"]},
    "central_dp": {"overrides": [*SMALL, "cohort.min=5", "cohort.max=5", "privacy.mechanism=central",
                                 "privacy.noise_multiplier=0.5", "privacy.accountant=rdp"]},
    # The contract table's distributed column: every registered algorithm, none named here.
    **{f"algorithm_{name}": {"overrides": [*SMALL, "data.clients=9", *CONTRACT[name]]} for name in registered()},
    "user_algorithm": {"overrides": [*SMALL, "algorithm=tests.algorithms.user_algorithm:ALGORITHM"]},
}
TIMING = ("round_s", "wall_s")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _start(world: int, argv: list[str], **popen) -> list[subprocess.Popen]:
    port = free_port()
    return [subprocess.Popen([sys.executable, *argv], env=worker_env(r, world, port, _env()), cwd=ROOT, **popen)
            for r in range(world)]


@pytest.fixture(scope="module")
def expected():
    return {name: run_case(case, engine="sequential") for name, case in CASES.items()}


@pytest.fixture(scope="module", params=[2, 3])
def ranks_results(request, tmp_path_factory):
    """All cases on `world` ranks in one process group: `(world, [rank0 results, ...])`."""
    world, out = request.param, tmp_path_factory.mktemp(f"world{request.param}")
    (out / "cases.json").write_text(json.dumps(CASES))
    procs = _start(world, [str(WORKER), str(out / "cases.json"), str(out)], stderr=subprocess.PIPE, text=True)
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * world, errors
    return world, [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]


def _assert_close(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for k in w:
            if isinstance(w[k], float):
                assert g[k] == pytest.approx(w[k], rel=1e-5, abs=1e-7), (g["round"], k)
            else:
                assert g[k] == w[k], (g["round"], k)


def _assert_tree_close(got, want) -> None:
    """Nested dicts and lists with the same structure and keys, numbers equal to rel 1e-5."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for k in want:
            _assert_tree_close(got[k], want[k])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_tree_close(g, w)
    else:
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_ranks_match_one_process(case, ranks_results, expected):
    world, results = ranks_results
    want = expected[case]
    for r in range(world):  # the server step is taken on every rank: identical models everywhere
        _assert_close(results[r][case]["history"], want["history"])
        assert results[r][case]["params"] == pytest.approx(want["params"], rel=1e-5, abs=1e-7)
        # state_dict gathers every rank's share; values to float tolerance, as the params
        _assert_tree_close(results[r][case]["states"], want["states"])
    # The ranks ran disjoint slices that together are exactly each round's cohort.
    exp = Experiment(load_config(None, CASES[case]["overrides"]))
    for rnd in range(len(want["history"])):
        ran = [cid for r in range(world) for cid in results[r][case]["ran"][rnd]]
        assert sorted(ran) == sorted(exp.sampler(rnd).tolist())


@pytest.mark.slow
def test_empty_slice_occurs(ranks_results):
    world, results = ranks_results
    sizes = [len(results[r]["empty_slices"]["ran"][rnd]) for r in range(world) for rnd in range(3)]
    assert 0 in sizes  # the case really exercised a rank with nothing to do


@pytest.mark.parametrize("case", CASES)
def test_one_rank_matches_sequential(case, expected):
    got = run_case(CASES[case])
    _assert_close(got["history"], expected[case]["history"])
    assert got["params"] == pytest.approx(expected[case]["params"], rel=1e-6)
    _assert_tree_close(got["states"], expected[case]["states"])


@pytest.mark.slow
def test_client_state_stays_with_its_owner(ranks_results, expected):
    world, results = ranks_results
    for r in range(world):
        ran = {c for rnd in results[r]["client_state"]["ran"] for c in rnd}
        assert ran and all(c % world == r for c in ran)
    assert len(expected["client_state"]["states"]) > 3  # the case really kept state


@pytest.mark.slow
def test_workers_shorthand_writes_one_run_folder(tmp_path):
    args = [*SMALL, "engine.workers=2", f"output_dir={tmp_path}", "name=dist"]
    proc = subprocess.run([sys.executable, "-m", "fedhive", "run", *args, "-q"], env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / "dist")]  # rank 0 alone prints and writes
    assert [p.name for p in tmp_path.iterdir()] == ["dist"]
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(tmp_path / "dist")]
    _assert_close(rows, run_case({"overrides": SMALL}, engine="sequential")["history"])
    assert "name: distributed" in (tmp_path / "dist" / "config.yaml").read_text()


@pytest.mark.slow
def test_resume_with_another_number_of_ranks(tmp_path):
    """A run checkpointed on 2 ranks resumes on 3 (a rank-count change needs --force, since
    sums then add in another order) and ends where one process does, to float rounding."""
    def fedhive(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fedhive", *args, "-q"], env=_env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    run_dir = tmp_path / "two"
    first = fedhive("run", *SMALL, "rounds=2", "checkpoint.every=1", "engine.workers=2",
                    f"output_dir={tmp_path}", "name=two")
    assert first.returncode == 0, first.stderr
    refused = fedhive("resume", str(run_dir), "rounds=4", "engine.workers=3")
    assert refused.returncode == 2 and "engine.workers (2 -> 3)" in refused.stderr
    resumed = fedhive("resume", str(run_dir), "rounds=4", "engine.workers=3", "--force")
    assert resumed.returncode == 0, resumed.stderr
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(run_dir)]
    assert [r["round"] for r in rows] == [1, 2, 3, 4]
    _assert_close(rows, run_case({"overrides": [*SMALL, "rounds=4"]}, engine="sequential")["history"])


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_lost_rank_ends_run_with_error_naming_it(how, tmp_path):
    """Rank 1 is killed (its connections drop) or frozen (only the timeout can tell)."""
    args = ["-m", "fedhive", "run", *SMALL, "rounds=100000", "eval_every=1000", "engine.name=distributed",
            "engine.timeout_s=4", f"output_dir={tmp_path}", "name=lost", "-q"]
    procs = _start(2, args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        metrics = tmp_path / "lost" / "metrics.jsonl"
        for _ in range(1200):  # rank 0 has logged a round: both ranks are in the loop
            if metrics.is_file() and metrics.read_text().count("\n") >= 2:
                break
            time.sleep(0.05)
        procs[1].send_signal(how)
        _, err = procs[0].communicate(timeout=120)  # a hang would fail here
        assert procs[0].returncode == 1, err
        assert "rank 1 stopped responding" in err, err
        assert err.strip().splitlines()[-1].startswith("fedhive: error: distributed engine: round ")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_a_rank_that_never_starts_is_an_error_not_a_hang(tmp_path):
    env = worker_env(0, 2, free_port(), _env())  # rank 1 of 2 is never started
    proc = subprocess.run([sys.executable, "-m", "fedhive", "run", *SMALL, "engine.name=distributed",
                           "engine.timeout_s=2", f"output_dir={tmp_path}", "-q"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("fedhive: error: distributed engine: rank 0 could not join the gloo process "
                                  "group of 2 ranks within engine.timeout_s=2 s"), proc.stderr
    assert list(tmp_path.iterdir()) == []  # no run folder before the group exists
