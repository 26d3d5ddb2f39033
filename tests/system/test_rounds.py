"""Synchronous rounds under heterogeneity: equal speeds change nothing; over-commit,
deadlines, partial work and stragglers match hand computations."""

from __future__ import annotations

import pytest
import torch

from fedhive.config import load_config
from fedhive.errors import FedhiveWarning
from fedhive.experiment import Experiment
from fedhive.system.budget import step_samples

SMALL = ["data.clients=50", "data.batch_size=10", "data.batches.min=4", "data.batches.max=4",
         "cohort.min=10", "cohort.max=10", "data.test_size=100"]
LOCAL = ["algorithm=fedavg", "client.lr=0.5", "server.aggregate=weighted_mean", "server.optimizer=sgd"]


def _speed_trace(tmp_path, speeds, bandwidth=1e12):
    path = tmp_path / "devices.csv"
    rows = [f"{c},{s},{bandwidth},{bandwidth}" for c, s in enumerate(speeds)]
    path.write_text("client,seconds_per_sample,upload,download\n" + "\n".join(rows) + "\n")
    return str(path)


def test_equal_speeds_no_deadline_equals_plain_run():
    base = ["rounds=4", "data.batch_size=100", "data.test_size=200"]
    plain = Experiment(load_config(None, base))
    plain.run(save=False)
    hetero = Experiment(load_config(None, base + ["system.speed.dist=constant", "system.jitter=0"]))
    hetero.run(save=False)
    assert torch.equal(plain.params, hetero.params)
    for a, b in zip(plain.history, hetero.history):
        assert a["test_loss"] == b["test_loss"] and a["train_loss"] == b["train_loss"]
        assert b["completed"] == b["selected"] == a["clients"] and b["partial"] == 0
    assert hetero.history[-1]["sim_time"] == pytest.approx(sum(r["round_time"] for r in hetero.history))


def test_overcommit_selects_ceil_and_round_time_is_kth_smallest():
    cfg = load_config(None, SMALL + ["round.overcommit=1.3", "system.speed.dist=lognormal", "system.speed.sigma=1.0"])
    exp = Experiment(cfg)
    cohort = exp.sampler(0).tolist()
    selected = exp.system.overcommit(0, cohort)
    assert len(cohort) == 10 and len(selected) == 13 and len(set(selected)) == 13
    per_step, _ = step_samples(exp.dataset, 0, selected)
    payload = exp.params.numel() * 4
    times = sorted(exp.system.devices.task_time(c, 0, float(s.sum()), payload, payload).total
                   for c, s in zip(selected, per_step))
    row = exp.step()
    assert row["selected"] == 13 and row["completed"] == 10 and row["unused"] == 3
    assert row["round_time"] == pytest.approx(times[9], rel=1e-12)
    assert row["clients"] == 10


SPEEDS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.2]  # 40 samples each


@pytest.mark.parametrize("policy", ["drop", "partial"])
def test_deadline_counts_and_partial_weights_match_hand_computation(tmp_path, policy):
    cfg = load_config(None, SMALL + LOCAL + ["data.clients=10", f"system.trace={_speed_trace(tmp_path, SPEEDS)}",
                                             "round.deadline=1.1", f"round.straggler_policy={policy}"])
    exp = Experiment(cfg)
    plan = exp.system.plan(0, list(range(10)), exp.dataset)
    # compute = 40 samples x speed; share of work that fits = 1.1 / compute; steps of 10 samples.
    # c0, c1 finish (0.4 s, 0.8 s); c2..c8 fit 3, 2, 2, 1, 1, 1, 1 steps; c9 (8 s) fits 0.
    if policy == "drop":
        assert (plan.metrics["completed"], plan.metrics["partial"], plan.metrics["deadline_dropped"]) == (2, 0, 8)
        assert plan.clients == [0, 1]
    else:
        assert (plan.metrics["completed"], plan.metrics["partial"], plan.metrics["deadline_dropped"]) == (2, 7, 1)
        assert plan.clients == list(range(9))
        out = exp.engine.run(exp.algorithm.client_update, exp.params, plan.data, 0, plan.clients, {})
        assert out.weights.tolist() == [40, 40, 30, 20, 20, 10, 10, 10, 10]
    assert plan.metrics["round_time"] == pytest.approx(1.1)


def test_partial_update_equals_update_on_first_steps(tmp_path):
    cfg = load_config(None, SMALL + LOCAL + ["data.clients=10", f"system.trace={_speed_trace(tmp_path, SPEEDS)}",
                                             "round.deadline=1.1", "round.straggler_policy=partial"])
    exp = Experiment(cfg)
    plan = exp.system.plan(0, list(range(10)), exp.dataset)
    full = exp.dataset.cohort_batches(0, [3])
    first_two = type(full)(*(t[0, :2] for t in full[:3]))
    expect = exp.algorithm.client_update(exp.params, first_two, {}, {}, torch.tensor(3))
    got = exp.engine.run(exp.algorithm.client_update, exp.params, plan.data, 0, [3], {})
    assert torch.allclose(got.updates[0], expect.update, rtol=0, atol=1e-7)
    assert float(got.weights[0]) == 20.0


def test_min_completion_skips_the_server_step(tmp_path):
    cfg = load_config(None, SMALL + LOCAL + ["data.clients=10", f"system.trace={_speed_trace(tmp_path, SPEEDS)}",
                                             "round.deadline=1.1", "round.min_completion=3", "rounds=1"])
    exp = Experiment(cfg)
    before = exp.params.clone()
    with pytest.warns(FedhiveWarning, match="fewer than round.min_completion"):
        row = exp.step()
    assert row["skipped_step"] == 1 and row["clients"] == 0
    assert torch.equal(exp.params, before)


def test_fedprox_stragglers_same_clients_for_every_policy():
    common = SMALL + LOCAL + ["client.epochs=4", "system.stragglers.fraction=0.5", "system.stragglers.min_epochs=1"]
    plans = {}
    for policy in ("drop", "partial", "fedprox_epochs"):
        exp = Experiment(load_config(None, common + [f"round.straggler_policy={policy}"]))
        cohort = exp.sampler(0).tolist()
        plans[policy] = (cohort, exp.system.stragglers(0, cohort), exp.system.plan(0, cohort, exp.dataset))
    cohort, epochs, _ = plans["drop"]
    assert all(p[:2] == (cohort, epochs) for p in plans.values()) and len(epochs) == 5
    short = {c: e for c, e in epochs.items() if e < 4}
    assert plans["drop"][2].metrics["deadline_dropped"] == len(short)
    partial = plans["partial"][2]
    assert partial.metrics["partial"] == len(short)
    # 4 steps of 10 samples: e/E of the work is the first 4·e/E steps
    assert partial.data.budgets == short
    paper = plans["fedprox_epochs"][2]
    assert paper.metrics["partial"] == len(short) and paper.metrics["deadline_dropped"] == 0
    assert paper.data.budgets == {} and paper.clients == cohort
    assert paper.inputs["epochs"].tolist() == [epochs.get(c, 4) for c in cohort]


def test_dropout_and_availability_are_counted():
    exp = Experiment(load_config(None, SMALL + ["system.dropout=0.5", "system.availability.kind=bernoulli",
                                                "system.availability.p=0.7"]))
    cohort = exp.sampler(0).tolist()
    dev = exp.system.devices
    # Only available clients take part: the unavailable ones are replaced by others.
    avail, unavailable = exp.system.available_only(0, cohort, 0.0)
    assert len(avail) == 10 and all(dev.available(c, 0, 0.0) for c in avail)
    assert [c for c in cohort if c in avail] == [c for c in cohort if dev.available(c, 0, 0.0)]
    assert unavailable >= 10 - sum(dev.available(c, 0, 0.0) for c in cohort) > 0
    kept = [c for c in avail if not dev.drops_out(c, 0)]
    row = exp.step()
    assert row["unavailable"] == unavailable and row["dropped_out"] == len(avail) - len(kept)
    assert row["clients"] == len(kept) == row["completed"]
    assert 0 < len(kept) < 10


def test_run_folder_gains_clock_columns_and_time_to_accuracy_plot(tmp_path):
    from fedhive.run_folder.recorder import read_metrics

    exp = Experiment(load_config(None, SMALL + ["rounds=2", f"output_dir={tmp_path}", "system.speed.dist=lognormal"]))
    exp.run()
    rows = read_metrics(exp.run_dir)
    assert rows[1]["sim_time"] == pytest.approx(rows[0]["round_time"] + rows[1]["round_time"])
    header = (exp.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"sim_time", "round_time", "selected", "partial", "deadline_dropped", "unavailable"} <= set(header)
    assert (exp.run_dir / "plots" / "time_to_accuracy.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["sync_fedavg_lognormal", "fedbuff_lognormal", "stragglers_fedavg_drop",
                                  "stragglers_fedprox", "trace_devices"])
def test_bundled_configs_run(name, monkeypatch, tmp_path):
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)  # trace paths in a config file are relative to the file, not the cwd
    cfg = load_config(REPO / "configs" / f"{name}.yaml", ["rounds=2", "data.batch_size=20"])
    history = Experiment(cfg).run(save=False)
    assert len(history) == 2 and history[-1]["sim_time"] > 0


@pytest.mark.parametrize("client", [[], LOCAL])
def test_heterogeneous_sync_runs_agree_across_engines(client):
    over = SMALL + client + ["rounds=3", "data.batches.min=2", "data.batches.max=6", "system.speed.dist=lognormal",
                             "system.speed.value=0.005", "system.speed.sigma=1.0", "round.deadline=0.3",
                             "round.straggler_policy=partial", "round.overcommit=1.3", "system.dropout=0.1"]
    runs = {}
    for engine in ("sequential", "vectorized"):
        exp = Experiment(load_config(None, over + [f"engine.name={engine}"]))
        exp.run(save=False)
        runs[engine] = exp
    seq, vec = runs["sequential"], runs["vectorized"]
    assert sum(r["partial"] for r in seq.history) > 0
    assert torch.allclose(seq.params, vec.params, rtol=1e-5, atol=1e-6)
    for a, b in zip(seq.history, vec.history):
        assert {k: a[k] for k in ("sim_time", "partial", "completed", "samples")} == \
               {k: b[k] for k in ("sim_time", "partial", "completed", "samples")}
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)


def test_clients_going_offline_mid_task_are_lost_and_the_rest_get_their_own_data(tmp_path):
    # every client is online for 1 s; client c needs (c + 1) · 0.3 s: clients 0-2 finish
    trace = tmp_path / "on.csv"
    trace.write_text("client,start,end\n" + "".join(f"{c},0,1\n" for c in range(10)))
    devices = _speed_trace(tmp_path, [0.3 * (c + 1) / 40 for c in range(10)])
    cfg = load_config(None, SMALL + LOCAL + ["data.clients=10", f"system.trace={devices}",
                                             "system.availability.kind=trace", f"system.availability.trace={trace}"])
    exp = Experiment(cfg)
    plan = exp.system.plan(0, list(range(9, -1, -1)), exp.dataset)
    assert plan.metrics["dropped_out"] == 7 and plan.clients == [2, 1, 0]
    got = exp.engine.run(exp.algorithm.client_update, exp.params, plan.data, 0, plan.clients, {})
    want = exp.engine.run(exp.algorithm.client_update, exp.params, exp.dataset, 0, plan.clients, {})
    assert torch.equal(got.updates, want.updates)


def test_compare_draws_curves_against_simulated_time(tmp_path, cli):
    base = SMALL + ["rounds=2", f"output_dir={tmp_path}", "system.speed.dist=lognormal"]
    dirs = []
    for name in ("a", "b"):
        exp = Experiment(load_config(None, base + [f"name={name}"]))
        exp.run()
        dirs.append(str(exp.run_dir))
    res = cli("compare", *dirs, "-o", str(tmp_path / "cmp.png"), "--x", "sim_time")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 0
    plain = Experiment(load_config(None, SMALL + ["rounds=1", f"output_dir={tmp_path}", "name=plain"]))
    plain.run()
    res = cli("compare", dirs[0], str(plain.run_dir), "-o", str(tmp_path / "c2.png"), "--x", "sim_time")
    assert res.returncode == 2 and "--x sim_time needs runs with a simulated clock" in res.stderr


def test_compression_shortens_the_upload_time():
    slow_up = SMALL + ["system.upload.value=10", "system.download.value=1e12", "rounds=1"]
    plain = Experiment(load_config(None, slow_up)).step()
    half = Experiment(load_config(None, slow_up + ["compression.name=fp16"])).step()
    # 3 float32 parameters up at 10 B/s take 1.2 s; as fp16 0.6 s (compute is the same)
    assert plain["round_time"] - half["round_time"] == pytest.approx(0.6, rel=1e-6)
