"""The robustness demo: 20% sign-flip attackers (each sends -4x its update) against FedAvg
on the reference task. The mean loses at least 10 points of accuracy; median, trimmed
mean and Krum stay within 3 points of the clean run."""

from __future__ import annotations

import pytest

from fedhive.config import load_config
from fedhive.experiment import Experiment

BASE = ["rounds=20", "data.batch_size=100", "algorithm=fedavg", "client.lr=1.0",
        "server.optimizer=sgd", "server.lr=1.0"]
# each robust aggregate with its own knob: the fraction trimmed, the number of attackers assumed
ROBUST = {"median": [], "trimmed_mean": ["server.beta=0.2"], "krum": ["server.f=6"]}
ATTACK = "attack={name: sign_flip, fraction: 0.2}"


def _final_accuracy(*overrides: str) -> float:
    history = Experiment(load_config(None, [*BASE, *overrides])).run(quiet=True, save=False)
    return history[-1]["test_accuracy"]


@pytest.mark.slow
def test_robust_aggregates_withstand_twenty_percent_sign_flip():
    clean = _final_accuracy("server.aggregate=mean")
    assert clean >= 0.95
    assert _final_accuracy("server.aggregate=mean", ATTACK) <= clean - 0.10
    for aggregate, knobs in ROBUST.items():
        assert _final_accuracy(f"server.aggregate={aggregate}", *knobs, ATTACK) >= clean - 0.03, aggregate
