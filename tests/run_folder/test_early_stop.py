"""`stop:`: a target accuracy or patience ends a run early; the stop round is recorded."""

from __future__ import annotations

import json

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.run_folder.early_stop import StopConfig, should_stop

ROWS = [{"round": 1, "test_accuracy": 0.5}, {"round": 2, "test_accuracy": 0.8}, {"round": 3, "test_accuracy": None},
        {"round": 4, "test_accuracy": 0.7}, {"round": 5, "test_accuracy": 0.8}]


def test_rules():
    assert not should_stop(ROWS, StopConfig())
    assert should_stop(ROWS[:2], StopConfig(target_accuracy=0.8)) and not should_stop(ROWS[:1], StopConfig(target_accuracy=0.8))
    # the best (0.8) came at round 2: rounds 3-5 bring no new best
    assert should_stop(ROWS, StopConfig(patience=3)) and not should_stop(ROWS, StopConfig(patience=4))
    assert not should_stop(ROWS[:4], StopConfig(patience=3))


def test_bad_values_name_the_field():
    import pytest

    with pytest.raises(UserError, match="stop.target_accuracy"):
        load_config(None, ["stop.target_accuracy=1.5"])
    with pytest.raises(UserError, match="stop.patience"):
        load_config(None, ["stop.patience=0"])


def test_run_stops_at_target_and_records_the_round(tmp_path):
    config = load_config(None, [f"output_dir={tmp_path}", "rounds=30", "stop.target_accuracy=0.9", "name=s"])
    history = Experiment(config).run()
    reached = next(r["round"] for r in history if r["test_accuracy"] >= 0.9)
    assert len(history) == reached < 30
    summary = json.loads((tmp_path / "s/summary.json").read_text())
    assert summary["stop_round"] == summary["rounds"] == reached


def test_resumed_run_stops_at_the_same_round(tmp_path):
    from fedhive.run_folder.resume import resume_experiment

    over = [f"output_dir={tmp_path}", "rounds=40", "stop.patience=3", "name=p", "checkpoint.every=1"]
    whole = Experiment(load_config(None, [*over, "name=whole"])).run()
    exp = Experiment(load_config(None, [*over, "rounds=4"]))
    exp.run()
    resumed = resume_experiment(tmp_path / "p", ["rounds=40"]).run()
    assert [r["test_accuracy"] for r in resumed] == [r["test_accuracy"] for r in whole]
    assert len(whole) < 40
