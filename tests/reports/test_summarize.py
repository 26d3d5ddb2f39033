"""`fedhive summarize`: spreads over seeds, and ε / bytes columns only where they apply."""

from __future__ import annotations

import csv

import pytest

from fedhive.errors import UserError
from fedhive.reports.summarize import spread, summarize
from tests.sweep.fixtures import fake_sweep as _fake_sweep


def test_spread_is_sample_std_and_ignores_missing():
    assert spread([1.0, 2.0, None, 3.0]) == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert spread([0.5]) == {"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5}
    assert spread([None]) == {"mean": None, "std": None, "min": None, "max": None}


def test_groups_by_setting_with_epsilon_and_bytes_when_on(tmp_path):
    dp = {"privacy": {"mechanism": "central"}, "compression": {"name": "qsgd"}}
    sweep = _fake_sweep(tmp_path / "sw", {
        "a0": ({"lr": "0.1", "seed": "0"}, [0.5, 0.8], {"epsilon": 2.0, "bytes_up_total": 10}, dp),
        "a1": ({"lr": "0.1", "seed": "1"}, [0.6, 0.7], {"epsilon": 4.0, "bytes_up_total": 30}, dp),
        "b0": ({"lr": "1.0", "seed": "0"}, [0.9, 0.95], {"epsilon": 3.0, "bytes_up_total": 20}, dp),
    })
    rows, paths, columns = summarize(sweep, target=0.75)
    assert [r["setting"] for r in rows] == ["lr=0.1", "lr=1.0"]
    a = rows[0]
    assert (a["seeds"], a["final_accuracy_mean"], a["best_accuracy_max"]) == (2, 0.75, 0.8)
    assert a["final_accuracy_std"] == pytest.approx(0.0707106781, abs=1e-9)
    assert (a["rounds_to_target_mean"], a["reached_target"]) == (2, "1/2")
    assert (a["epsilon_mean"], a["bytes_up_mean"]) == (3.0, 20)
    assert "epsilon_mean" in columns and "stop_round_mean" not in columns
    written = list(csv.DictReader(open(paths[0])))
    assert written[1]["final_accuracy_mean"] == "0.95" and written[1]["final_accuracy_std"] == "0.0"
    assert "| lr=1.0 | 1 | 0.9500 ± 0.0000 |" in paths[1].read_text()


def test_columns_leave_out_epsilon_and_bytes_when_off(tmp_path):
    sweep = _fake_sweep(tmp_path / "sw", {"r": ({"seed": "0"}, [0.5], {"epsilon": None}, {})})
    rows, _, columns = summarize(sweep)
    assert rows[0]["setting"] == "(one setting)"
    assert "epsilon_mean" not in columns and "bytes_up_mean" not in columns


def test_not_a_sweep_folder(tmp_path):
    with pytest.raises(UserError, match="not a sweep folder"):
        summarize(tmp_path)
