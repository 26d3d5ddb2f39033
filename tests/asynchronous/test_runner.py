"""Asynchronous runs: FedBuff equals sync FedAvg where it must, FedAsync's mixing step,
staleness drops, losses, open loop, and a resume from the runner's state_dict."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from fedhive.asynchronous.events import EventQueue
from fedhive.config import load_config
from fedhive.experiment import Experiment

BASE = ["data.batch_size=20", "data.batches.min=3", "data.batches.max=3", "cohort.min=8", "cohort.max=8",
        "data.clients=40", "data.test_size=100", "algorithm=fedavg", "client.lr=0.5",
        "server.aggregate=weighted_mean", "server.optimizer=sgd"]
ASYNC = ["mode=async", "system.speed.dist=lognormal", "system.speed.sigma=1.0", "asynchronous.concurrency=12",
         "asynchronous.buffer_size=4"]


def _run(overrides, rounds):
    exp = Experiment(load_config(None, BASE + overrides + [f"rounds={rounds}"]))
    exp.run(save=False)
    return exp


@pytest.mark.parametrize("stacked", [True, False])
def test_fedbuff_with_concurrency_equal_buffer_equal_k_is_sync_fedavg(stacked):
    sync = _run([], 4)
    fedbuff = _run(["mode=async", "asynchronous.concurrency=8", "asynchronous.buffer_size=8",
                    f"asynchronous.stacked={stacked}"], 4)
    assert torch.allclose(sync.params, fedbuff.params, rtol=0, atol=1e-6)
    for a, b in zip(sync.history, fedbuff.history):
        assert b["clients"] == a["clients"] == 8 and b["samples"] == a["samples"]
        assert b["staleness_max"] == 0
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-6)


def test_stacked_and_engine_training_agree():
    a = _run(ASYNC + ["asynchronous.stacked=true"], 6)
    b = _run(ASYNC + ["asynchronous.stacked=false"], 6)
    assert torch.allclose(a.params, b.params, rtol=0, atol=1e-6)
    for x, y in zip(a.history, b.history):
        assert x["sim_time"] == y["sim_time"] and x["staleness_mean"] == y["staleness_mean"]
        assert x["test_loss"] == pytest.approx(y["test_loss"], rel=1e-5)
    assert max(r["staleness_max"] for r in a.history) > 0


def test_max_staleness_drops_exactly_the_stale_ones():
    exp = Experiment(load_config(None, BASE + ASYNC + ["asynchronous.max_staleness=1", "rounds=8"]))
    seen = []
    arrive = exp.asynchronous._arrive

    def record(ev):
        seen.append(exp.asynchronous.version - exp.asynchronous.tasks[ev.task].version)
        arrive(ev)

    exp.asynchronous._arrive = record
    exp.run(save=False)
    dropped = sum(r["stale_dropped"] for r in exp.history)
    assert dropped == sum(s > 1 for s in seen) > 0
    assert all(r["staleness_max"] <= 1 for r in exp.history)
    assert sum(r["clients"] for r in exp.history) == sum(s <= 1 for s in seen) - len(exp.asynchronous.buffer)


def test_fedasync_mixing_step_by_hand():
    over = ["mode=async", "asynchronous.concurrency=1", "asynchronous.buffer_size=1",
            "asynchronous.mixing_rate=0.3", "server.optimizer=sgd", "server.lr=1.0"]
    exp = Experiment(load_config(None, BASE + over + ["rounds=1"]))
    p0 = exp.params.clone()
    client = exp.sampler(0).tolist()[0]
    data = exp.dataset.cohort_batches(0, [client])
    result = exp.algorithm.client_update(p0, type(data)(*(t[0] for t in data)), {}, {}, torch.tensor(client))
    exp.step()
    assert torch.allclose(exp.params, p0 - 0.3 * result.update, rtol=0, atol=1e-7)


def test_dropouts_are_lost_and_counted():
    exp = _run(ASYNC + ["system.dropout=0.3"], 5)
    assert sum(r["lost"] for r in exp.history) > 0
    assert all(r["clients"] == 4 for r in exp.history)


def test_open_loop_poisson_is_deterministic():
    over = ASYNC + ["asynchronous.arrival_rate=20"]
    a, b = _run(over, 4), _run(over, 4)
    assert [r["sim_time"] for r in a.history] == [r["sim_time"] for r in b.history]
    assert torch.equal(a.params, b.params)


def test_event_queue_orders_ties_by_kind_then_client():
    q = EventQueue()
    for t, kind, client in [(1.0, 2, 0), (1.0, 0, 5), (0.5, 2, 9), (1.0, 0, 3)]:
        q.push(t, kind, client, client)
    assert [(e.time, e.kind, e.client) for e in (q.pop() for _ in range(4))] == [
        (0.5, 2, 9), (1.0, 0, 3), (1.0, 0, 5), (1.0, 2, 0)]


def _snapshot(exp):
    buf = io.BytesIO()
    torch.save({"params": exp.params, "server": exp.server_state, "runner": exp.asynchronous.state_dict(),
                "clients": exp.client_states.state_dict()}, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_resume_mid_run_is_bit_exact():
    cfg = load_config(None, BASE + ASYNC + ["rounds=8", "asynchronous.staleness=polynomial"])
    whole = Experiment(cfg)
    for _ in range(3):
        whole.step()
    _snapshot(whole)  # a checkpoint trains pending clients; the resumed run must match that
    rest_whole = [whole.step() for _ in range(5)]
    first = Experiment(cfg)
    for _ in range(3):
        first.step()
    state = _snapshot(first)
    resumed = Experiment(copy.deepcopy(cfg))
    resumed.params, resumed.server_state = state["params"], state["server"]
    resumed.client_states.load_state_dict(state["clients"])
    resumed.asynchronous.load_state_dict(state["runner"])
    rest = [resumed.step() for _ in range(5)]
    assert torch.equal(resumed.params, whole.params)
    drop = ("round_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rest] == \
           [{k: v for k, v in r.items() if k not in drop} for r in rest_whole]


@pytest.mark.parametrize("engine", ["sequential", "vectorized"])
def test_async_engine_groups_agree_with_stacked_training(engine):
    stacked = _run(ASYNC + ["asynchronous.stacked=true"], 5)
    grouped = _run(ASYNC + ["asynchronous.stacked=false", f"engine.name={engine}"], 5)
    assert torch.allclose(stacked.params, grouped.params, rtol=0, atol=1e-6)
    assert [r["sim_time"] for r in stacked.history] == [r["sim_time"] for r in grouped.history]


def test_no_available_client_is_a_user_error(tmp_path):
    from fedhive.errors import UserError

    trace = tmp_path / "never.json"
    trace.write_text("{}")
    cfg = load_config(None, BASE + ["mode=async", "asynchronous.concurrency=2", "asynchronous.buffer_size=2",
                                    "system.availability.kind=trace", f"system.availability.trace={trace}"])
    with pytest.raises(UserError, match="^system.availability: no client is available"):
        Experiment(cfg).step()
