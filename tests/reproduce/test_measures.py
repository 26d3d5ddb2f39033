"""The measurement reproductions' parts that train: DP-FedAvg's accuracy against ε."""

from __future__ import annotations

import pytest

from fedhive.reproduce import spec
from fedhive.reproduce.measures import dp_epsilon


@pytest.mark.slow
def test_dp_training_rows_hold_accuracy_and_the_runs_epsilon_matches_dp_accounting(tmp_path):
    training = {"noise": [0.5, 4.0], "config": {"rounds": 3, "eval_every": 1, "data": {"clients": 50},
                                                "server": {"aggregate": "sum", "optimizer": "sgd", "lr": 1.0}}}
    rows, figure = dp_epsilon(tmp_path, [1.0], 0.2, 3, 1e-5, every=3, training=training)
    assert [(r["part"], r["z"]) for r in rows] == [("accounting", 1.0), ("training", 0.5), ("training", 4.0)]
    for r in rows[1:]:
        assert r["rounds"] == 3 and r["max_diff"] < 1e-6 and 0.0 <= r["accuracy"] <= 1.0
        assert (tmp_path / f"dp-z{r['z']}" / "metrics.jsonl").is_file()
    assert rows[1]["dp_accounting"] > rows[2]["dp_accounting"]  # less noise, more ε
    assert figure.stat().st_size > 1000


def test_quick_params_merge_into_the_full_ones():
    full, quick = spec.load("dp_fedavg_epsilon"), spec.variant(spec.load("dp_fedavg_epsilon"), True)
    assert quick["params"]["training"]["noise"] == [0.5, 2.0]
    assert quick["params"]["training"]["config"] == {**full["params"]["training"]["config"], "rounds": 20}
    assert (quick["params"]["rounds"], quick["params"]["every"]) == (100, 50)
