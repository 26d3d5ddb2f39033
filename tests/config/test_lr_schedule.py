"""Learning-rate schedules: exact values per round, what runs record, what they change, bad configs."""

from __future__ import annotations

import math

import pytest
import torch

from fedhive.config import load_config
from fedhive.config.lr_schedule import LrSchedule, build_schedule
from fedhive.errors import UserError
from fedhive.experiment import Experiment

SMALL = ["data.clients=50", "data.batch_size=50", "data.batches.min=2", "data.batches.max=3",
         "cohort.min=3", "cohort.max=5", "data.test_size=100", "rounds=6", "evaluation.per_client=false"]
COSINE = "client.lr_schedule={name: cosine, decay_rounds: 4, warmup: 2, min_factor: 0.1}"
STEP = "server.lr_schedule={name: step, gamma: 0.5, step_size: 2}"


@pytest.mark.parametrize("spec, lr, want", [
    ({"name": "constant"}, 0.3, [0.3] * 6),
    ({"name": "constant", "warmup": 3}, 0.4, [0.1, 0.2, 0.3, 0.4, 0.4, 0.4]),
    ({"name": "step", "gamma": 0.5, "step_size": 2}, 1.0, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]),
    ({"name": "exponential", "gamma": 0.9}, 2.0, [2.0, 1.8, 1.62, 1.458, 1.3122, 1.18098]),
    ({"name": "exponential", "gamma": 0.5, "warmup": 1}, 1.0, [0.5, 1.0, 0.5, 0.25, 0.125, 0.0625]),
    # T = 4: lr (1 + cos(pi s / 4)) / 2, then held at its end (min_factor 0).
    ({"name": "cosine", "decay_rounds": 4}, 1.0,
     [1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 0.0, 0.0]),
    ({"name": "cosine", "decay_rounds": 2, "warmup": 1, "min_factor": 0.2}, 1.0, [0.5, 1.0, 0.6, 0.2, 0.2, 0.2]),
], ids=["constant", "warmup", "step", "exponential", "exponential_warmup", "cosine", "cosine_warmup_floor"])
def test_schedule_values_per_round(spec, lr, want):
    schedule = build_schedule(LrSchedule.model_validate(spec), lr)
    assert [schedule(t) for t in range(6)] == pytest.approx(want, rel=1e-12)


def test_no_schedule_builds_nothing():
    assert build_schedule(None, 0.1) is None


def _rows(*overrides: str) -> list[dict]:
    return Experiment(load_config(None, [*SMALL, "algorithm=fedavg", *overrides])).run(save=False)


def test_rows_record_the_scheduled_lrs():
    rows = _rows(COSINE, STEP)
    client = build_schedule(LrSchedule(name="cosine", decay_rounds=4, warmup=2, min_factor=0.1), 0.1)
    assert [r["client_lr"] for r in rows] == [client(t) for t in range(6)]
    assert [r["server_lr"] for r in rows] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert all("client_lr" not in r and "server_lr" not in r for r in _rows())  # only when scheduled


def _final_params(*overrides: str, engine: str = "vectorized") -> torch.Tensor:
    exp = Experiment(load_config(None, [*SMALL, "algorithm=fedavg", f"engine.name={engine}", *overrides]))
    exp.run(save=False)
    return exp.params


def test_a_constant_schedule_is_the_constant_lr_and_a_decay_changes_the_run():
    plain = _final_params()
    assert torch.equal(_final_params("client.lr_schedule=constant", "server.lr_schedule=constant"), plain)
    assert not torch.allclose(_final_params(COSINE), plain, atol=1e-4)
    assert not torch.allclose(_final_params(STEP), plain, atol=1e-4)


@pytest.mark.parametrize("algorithm", ["fedavg", "scaffold", "qffl", "apfl", "ditto"])
def test_engines_agree_under_schedules(algorithm):
    """The client lr is a per-round input: the vmapped engine gets each round's value as the
    sequential one does (SCAFFOLD and q-FFL also divide by it, APFL runs its own loop)."""
    overrides = [f"algorithm={algorithm}", COSINE]
    vectorized = _final_params(*overrides)
    assert torch.allclose(vectorized, _final_params(*overrides, engine="sequential"), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(vectorized, _final_params(f"algorithm={algorithm}"), atol=1e-4)


def test_async_clients_get_the_lr_of_their_start_version():
    rows = Experiment(load_config(None, [
        *SMALL, "mode=async", "algorithm=fedavg", "server.optimizer=sgd", "server.aggregate=weighted_mean",
        "system.speed.dist=lognormal", "asynchronous.concurrency=4", "asynchronous.buffer_size=2",
        "client.lr_schedule={name: exponential, gamma: 0.5}", "server.lr_schedule={name: exponential, gamma: 0.8}",
    ])).run(save=False)
    assert [r["client_lr"] for r in rows] == [0.1 * 0.5**t for t in range(6)]
    assert [r["server_lr"] for r in rows] == pytest.approx([0.8**t for t in range(6)], rel=1e-12)


@pytest.mark.parametrize("overrides, message", [
    (["algorithm=fedavg", "client.lr_schedule={name: step, gamma: 0.5}"],
     "config error: client.lr_schedule.step_size: required by the step schedule"),
    (["algorithm=fedavg", "client.lr_schedule={name: cosine}"],
     "config error: client.lr_schedule.decay_rounds: required by the cosine schedule"),
    (["algorithm=fedavg", "server.lr_schedule={name: exponential, gamma: 0.9, decay_rounds: 5}"],
     "config error: server.lr_schedule.decay_rounds: not used by the exponential schedule; it applies to cosine"),
    (["algorithm=fedavg", "client.lr_schedule.name=linear"],
     "config error: client.lr_schedule.name: Input should be 'constant', 'step', 'exponential' or 'cosine' "
     "(got 'linear')"),
    (["algorithm=fedavg", "client.lr_schedule={name: exponential, gamma: 1.5}"],
     "config error: client.lr_schedule.gamma: Input should be less than or equal to 1 (got 1.5)"),
    (["algorithm=fedavg", "client.lr_schedule={name: constant, warmup: -1}"],
     "config error: client.lr_schedule.warmup: Input should be greater than or equal to 0 (got -1)"),
    (["algorithm=fedavg", "client.lr_schedule={name: constant, decay: 3}"],
     "config error: client.lr_schedule.decay: unknown key"),
    (["client.lr_schedule=cosine"], "config error: client.lr_schedule.decay_rounds: required by the cosine schedule"),
    (["client.lr_schedule=constant"], "config error: client.lr_schedule: fedsgd does not train locally"),
    (["server=[{name: sum}, {name: adam, lr_schedule: {name: step, gamma: 0.5}}]"],
     "config error: server.1.adam.lr_schedule.step_size: required by the step schedule"),
])
def test_bad_schedule_is_one_line_naming_the_field(overrides, message):
    with pytest.raises(UserError) as e:
        load_config(None, overrides)
    assert str(e.value).startswith(message) and "(got 'cosine')" not in str(e.value)
    assert "\n" not in str(e.value)
