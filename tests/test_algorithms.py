"""Contract tests over the algorithm registry: every registered algorithm (and a few
robust server chains) is checked for learning on a non-IID split, engine agreement,
and dropping a NaN client. A new algorithm module joins with no edit here; `TUNED`
only holds step sizes chosen for this task."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch

from fedhive.algorithms.registry import registered
from fedhive.config import EngineConfig, load_config
from tests.noniid import skewed_experiment

# A small non-IID task: 100 clients in 4 feature-skew groups, 8..12 a round, 2..4 batches of 50.
TASK = ["data.clients=100", "cohort.min=8", "cohort.max=12", "data.batch_size=50",
        "data.batches.min=2", "data.batches.max=4"]
FAST_CLIENT = ["client.lr=2.0"]
ROBUST = "algorithm=fedavg", "client.lr=2.0"

# Step sizes tuned for the task above (and a model with a body for the body/head split
# of FedPer/FedRep: the reference model is one layer); an algorithm not listed runs with
# client.lr=1.0 if it trains locally, else with its defaults.
TUNED: dict[str, list[str]] = {
    "fedavg": FAST_CLIENT,
    "fedavgm": ["client.lr=1.0"],
    "fedprox": FAST_CLIENT,
    "scaffold": FAST_CLIENT,
    "fednova": FAST_CLIENT,
    "fedadam": ["client.lr=1.0", "server.lr=0.3"],
    "fedyogi": ["client.lr=1.0", "server.lr=0.3"],
    "fedadagrad": ["client.lr=1.0", "server.lr=1.0"],
    "fedper": ["client.lr=1.0", "model.name=mlp", "model.hidden=[8]"],
    "fedrep": ["client.lr=1.0", "model.name=mlp", "model.hidden=[8]", "algorithm.head_epochs=1"],
}
ALGORITHMS: dict[str, list[str]] = {
    **{name: [f"algorithm={name}", *TUNED.get(name, ["client.lr=1.0"] if a.local_training else [])]
       for name, a in registered().items()},
    "fedavg+median": [*ROBUST, "server=[{name: median}, {name: sgd}]"],
    "fedavg+trimmed_mean": [*ROBUST, "server=[{name: trimmed_mean, beta: 0.2}, {name: sgd}]"],
    "fedavg+krum": [*ROBUST, "server=[{name: krum, f: 2}, {name: sgd}]"],
    "fedavg+multi_krum": [*ROBUST, "server=[{name: multi_krum, f: 2}, {name: sgd}]"],
    "fedavg+multi_krum_weighted": [*ROBUST, "server=[{name: multi_krum, f: 2, weighted: true}, {name: sgd}]"],
    "fedavg+bulyan": [*ROBUST, "server=[{name: bulyan, f: 1}, {name: sgd}]"],
    "fedavg+norm_bound": [*ROBUST, "server=[{name: norm_bound, max_norm: 1.0}, {name: weighted_mean}, {name: sgd}]"],
}
# Every engine other than the sequential reference, and the vectorized one again with
# chunks that split the cohort (the distributed column: tests/engines/test_distributed.py).
ENGINES = {name: [f"engine.name={name}"] for name in get_args(EngineConfig.model_fields["name"].annotation)
           if name not in ("sequential", "distributed")}
ENGINES["vectorized-chunk3"] = ["engine.name=vectorized", "engine.chunk_size=3"]
MAJORITY_CLASS = 0.69  # share of label 1 under the reference task's true weights


def _config(name: str, *extra: str):
    return load_config(None, [*TASK, *ALGORITHMS[name], *extra])


@pytest.mark.parametrize("name", ALGORITHMS)
def test_learns_on_a_non_iid_split(name):
    """15 rounds: accuracy >= 0.9 (majority class 0.69) and test loss down by a quarter."""
    exp = skewed_experiment(_config(name, "rounds=15"))
    start_loss = exp.evaluate(0)["test_loss"]
    history = exp.run(quiet=True, save=False)
    assert history[-1]["test_accuracy"] >= 0.9 > MAJORITY_CLASS
    assert history[-1]["test_loss"] <= 0.75 * start_loss


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ALGORITHMS)
def test_engines_give_the_same_metrics(name, engine):
    """Every engine against the sequential one: same metrics to relative 1e-5, 3 rounds."""
    ref = skewed_experiment(_config(name, "rounds=3", "engine.name=sequential")).run(quiet=True, save=False)
    got = skewed_experiment(_config(name, "rounds=3", *ENGINES[engine])).run(quiet=True, save=False)
    for a, b in zip(ref, got):
        for key in ("train_loss", "test_loss", "test_accuracy", "samples", "dropped"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (key, a["round"])


@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_nan_client_is_dropped_and_counted(name):
    """One client in ten sends NaN every round: dropped, counted, the model stays finite."""
    exp = skewed_experiment(_config(name, "rounds=3", "cohort.min=10", "cohort.max=10",
                                    "attack={name: nan, fraction: 0.1}"))
    history = exp.run(quiet=True, save=False)
    assert [r["dropped"] for r in history] == [1, 1, 1]
    assert torch.isfinite(exp.params).all()
    assert all(math.isfinite(r["test_loss"]) for r in history)
