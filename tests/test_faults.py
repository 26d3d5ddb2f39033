"""Runtime faults: failing or non-finite client updates are dropped and counted; rounds
with nothing usable are skipped; too many in a row stop the run with a checkpoint."""

from __future__ import annotations

import contextlib
import itertools

import pytest
import torch

from fedhive import rng
from fedhive.client.state import ClientStateStore
from fedhive.client.update import ClientResult
from fedhive.config import load_config
from fedhive.engines.sequential import ClientError
from fedhive.errors import FedhiveWarning, RunError, UserError
from fedhive.experiment import Experiment
from fedhive.run_folder.checkpoint import list_checkpoints
from fedhive.run_folder.recorder import read_metrics

SMALL = ["data.clients=50", "data.batch_size=50", "data.batches.min=2", "data.batches.max=3",
         "cohort.min=3", "cohort.max=5", "data.test_size=100"]


def client_of(exp: Experiment, key: torch.Tensor) -> int:
    """The client whose engine key (`rng.client_key(round, client)`) is `key` this round."""
    return next(c for c in range(exp.dataset.num_clients) if rng.client_key(exp.round, c) == int(key))


def experiment(*overrides: str, fault=None, bad=lambda cid: False) -> Experiment:
    """A small experiment whose client update misbehaves (`fault`) for clients where `bad(cid)`."""
    exp = Experiment(load_config(None, [*SMALL, *overrides]))
    if fault is not None:
        inner = exp.algorithm.client_update

        def update(params, data, state, inputs, key):
            result = inner(params, data, state, inputs, key)
            return fault(result) if bad(client_of(exp, key)) else result

        exp.algorithm = exp.algorithm._replace(client_update=update)
    return exp


def boom(result):
    raise ValueError("boom")


_failures = itertools.count()


def boom_each(result):
    """A different error every time: a run of these is not one systematic failure."""
    raise ValueError(f"boom #{next(_failures)}")


def nan_attack(result):
    return result._replace(update=torch.full_like(result.update, float("nan")))


def inf_attack(result):
    return result._replace(update=torch.full_like(result.update, float("inf")))


@pytest.mark.parametrize("engine", ["sequential", "vectorized"])
@pytest.mark.parametrize("fault", [boom, nan_attack, inf_attack])
def test_bad_clients_are_dropped_counted_and_never_reach_the_model(fault, engine):
    clean = experiment(f"engine.name={engine}")
    exp = experiment(f"engine.name={engine}", fault=fault, bad=lambda cid: cid % 3 == 0)
    ids = exp.sampler(0).tolist()
    bad = [c for c in ids if c % 3 == 0]
    assert 0 < len(bad) < len(ids)
    raised = pytest.warns(FedhiveWarning, match=r"round 1: \d client update\(s\) raised and were dropped")
    with raised if fault is boom else contextlib.nullcontext():
        row = exp.step()
    assert row["dropped"] == len(bad) and row["clients"] == len(ids)
    assert torch.isfinite(exp.params).all()
    # The round equals a round of the good clients alone.
    good = [c for c in ids if c % 3 != 0]
    clean.sampler = lambda r: torch.tensor(good)
    clean_row = clean.step()
    if engine == "sequential":
        assert torch.equal(exp.params, clean.params)
    else:  # the chunk with a failure is rerun client by client: other rounding than one fused pass
        torch.testing.assert_close(exp.params, clean.params, rtol=1e-6, atol=1e-7)
    assert row["samples"] == clean_row["samples"]
    assert row["train_loss"] == pytest.approx(clean_row["train_loss"], rel=1e-6)


def test_fail_fast_reraises_naming_round_and_client():
    exp = experiment("engine.name=sequential", "engine.fail_fast=true", fault=boom, bad=lambda cid: True)
    first = exp.sampler(0).tolist()[0]
    with pytest.raises(ClientError, match=f"round 1, client {first}: client update failed: boom"):
        exp.step()
    exp = experiment("engine.name=vectorized", "engine.fail_fast=true", fault=boom, bad=lambda cid: True)
    with pytest.raises(ClientError, match=r"round 1, clients \d+\.\.\d+: client update failed"):
        exp.step()


def test_a_round_where_every_client_fails_is_skipped():
    exp = experiment(fault=boom_each, bad=lambda cid: True)
    before = exp.params.clone()
    with pytest.warns(FedhiveWarning, match="round 1: 4 client update\\(s\\) raised and were dropped"), \
            pytest.warns(FedhiveWarning, match="round 1: no client update was usable; round skipped, model unchanged"):
        row = exp.step()
    assert torch.equal(exp.params, before) and exp.round == 1 and exp.empty_rounds == 1
    assert row["dropped"] == row["clients"] and row["samples"] == 0 and row["train_loss"] is None
    assert int(exp.server_state["adam"].count) == 0  # the server optimizer did not step


@pytest.mark.parametrize("engine", ["sequential", "vectorized"])
def test_every_client_raising_the_same_error_stops_at_once(engine):
    exp = experiment(f"engine.name={engine}", fault=boom, bad=lambda cid: True)
    with pytest.raises(UserError, match=r"^round 1: all 4 client updates raised the same error: ValueError: boom$"):
        exp.step()


def test_a_non_finite_server_step_is_skipped():
    # Finite but huge updates overflow the sum: the model must not become non-finite.
    exp = experiment("server.optimizer=sgd", fault=lambda r: r._replace(update=torch.full_like(r.update, 3e38)),
                     bad=lambda cid: True)
    before = exp.params.clone()
    with pytest.warns(FedhiveWarning, match="the server step was not finite"):
        exp.step()
    assert torch.equal(exp.params, before)


def test_consecutive_empty_rounds_stop_the_run_with_a_checkpoint(tmp_path):
    exp = experiment(f"output_dir={tmp_path}", "name=dead", "rounds=50", "faults.max_empty_rounds=3",
                     fault=boom_each, bad=lambda cid: True)
    skipped = r"rounds 1-3: 3 rounds in a row skipped: no client update was usable \(3x\) \(faults"
    with pytest.warns(FedhiveWarning), pytest.raises(RunError, match=skipped):
        exp.run()
    run_dir = tmp_path / "dead"
    assert [r for r, _ in list_checkpoints(run_dir / "checkpoints")] == [3]
    assert [r["round"] for r in read_metrics(run_dir)] == [1, 2, 3]
    assert (run_dir / "summary.json").is_file()


def test_a_recovering_run_resets_the_empty_round_count():
    # Every client of the even (0-based) rounds fails; `exp` is looked up when a client runs.
    exp = experiment("rounds=6", "faults.max_empty_rounds=2", fault=boom_each, bad=lambda cid: exp.round % 2 == 0)
    with pytest.warns(FedhiveWarning):
        rows = exp.run(save=False)
    assert [r["samples"] > 0 for r in rows] == [False, True] * 3
    assert exp.empty_rounds == 0


@pytest.mark.parametrize("fault", [boom, nan_attack])
def test_a_dropped_client_keeps_its_state(fault):
    """Per-client state (SCAFFOLD variates, error-feedback residuals) of a dropped client
    is not overwritten; the others' states advance."""
    exp = experiment()

    def counting(params, data, state, inputs, key):
        result = ClientResult(torch.zeros_like(params), data.mask.sum(), {"n": state["n"] + 1}, {}, {"loss": torch.tensor(0.5)})
        return fault(result) if client_of(exp, key) % 2 else result

    exp.algorithm = exp.algorithm._replace(client_update=counting)
    exp.client_states = ClientStateStore(lambda p: {"n": torch.zeros(())}, exp.params)
    ids = exp.sampler(0).tolist()
    with pytest.warns(FedhiveWarning) if fault is boom else contextlib.nullcontext():
        row = exp.step()
    assert row["dropped"] == sum(c % 2 for c in ids)
    assert {c: int(s["n"]) for c, s in exp.client_states.states.items()} == {c: 1 - c % 2 for c in ids}


def test_the_stop_message_names_a_non_finite_server_step(tmp_path):
    exp = experiment(f"output_dir={tmp_path}", "name=huge", "rounds=50", "faults.max_empty_rounds=2",
                     "server.optimizer=sgd", fault=lambda r: r._replace(update=torch.full_like(r.update, 3e38)),
                     bad=lambda cid: True)
    with pytest.warns(FedhiveWarning), pytest.raises(RunError) as e:
        exp.run()
    assert "2 rounds in a row skipped: the server step was not finite (2x)" in str(e.value)
    assert "usable" not in str(e.value)
