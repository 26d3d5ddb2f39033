"""A user's algorithm module (`module.path:NAME`) runs like a built-in one on every
single-process engine (the 2-rank run: tests/engines/test_distributed.py)."""

from __future__ import annotations

import pytest

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment

USER = "algorithm=tests.algorithms.user_algorithm:ALGORITHM"
TASK = ["rounds=3", "data.clients=30", "data.batch_size=40", "cohort.min=4", "cohort.max=6", "data.test_size=200"]


def _run(*overrides: str) -> list[dict]:
    return Experiment(load_config(None, [*TASK, *overrides])).run(quiet=True, save=False)


@pytest.mark.parametrize("engine", ["vectorized", "sequential"])
def test_decay_one_is_fedavg_on_every_engine(engine):
    got = _run(USER, "algorithm.decay=1.0", f"engine.name={engine}")
    want = _run("algorithm=fedavg", "engine.name=sequential")
    for a, b in zip(got, want):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)


def test_its_hyperparameters_are_validated_and_resolved():
    c = load_config(None, [USER])
    assert (c.algorithm.name, c.algorithm.decay) == ("tests.algorithms.user_algorithm:ALGORITHM", 0.9)
    with pytest.raises(UserError, match="algorithm.decay: Input should be less than or equal to 1"):
        load_config(None, [USER, "algorithm.decay=2"])
    assert _run(USER, "algorithm.decay=0.5")[-1]["test_loss"] != _run(USER, "algorithm.decay=1.0")[-1]["test_loss"]
