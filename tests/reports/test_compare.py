"""`fedhive compare`: shared-axes curves, the table, both written next to the output path."""

from __future__ import annotations

import csv
import json

import pytest

from fedhive.reports.compare import Run, table_row


def test_table_row_final_best_and_rounds_to_target():
    rows = [{"round": 1, "test_accuracy": 0.5}, {"round": 2, "test_accuracy": None},
            {"round": 3, "test_accuracy": 0.93}, {"round": 4, "test_accuracy": 0.91, "wall_s": 2.5}]
    row = table_row(Run("a", rows, {}), target=0.9)
    assert row == {"run": "a", "final_accuracy": 0.91, "best_accuracy": 0.93, "personal_accuracy": None,
                   "rounds_to_target": 3, "wall_s": 2.5}
    assert table_row(Run("a", rows, {"loop_s": 9.0}), target=0.95)["rounds_to_target"] is None
    assert table_row(Run("a", rows, {"loop_s": 9.0}), target=0.95)["wall_s"] == 9.0
    rows[-1]["personal_accuracy_mean"] = 0.97
    assert table_row(Run("a", rows, {}), target=0.9)["personal_accuracy"] == 0.97


def _write_run(run_dir, accuracies, loop_s, personal=None):
    run_dir.mkdir(parents=True)
    rows = [{"round": i + 1, "test_accuracy": a, "test_loss": 1 - a} for i, a in enumerate(accuracies)]
    for row, p in zip(rows, personal or []):
        row["personal_accuracy_mean"] = p
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "summary.json").write_text(json.dumps({"loop_s": loop_s}))


def test_compare_cli_writes_png_csv_and_md(cli, tmp_path):
    _write_run(tmp_path / "runs/a", [0.5, 0.7, 0.8], 1.5)
    _write_run(tmp_path / "runs/b", [0.6, 0.9, 0.85], 2.0)
    res = cli("compare", "runs/a", "runs/b", "-o", "out/cmp.png", "--target", "0.75")
    assert res.returncode == 0, res.stderr
    assert "final accuracy" in res.stdout and "rounds to target" in res.stdout
    assert (tmp_path / "out/cmp.png").stat().st_size > 1000
    table = list(csv.DictReader(open(tmp_path / "out/cmp.csv")))
    assert [(r["run"], r["final_accuracy"], r["best_accuracy"], r["personal_accuracy"], r["rounds_to_target"],
             r["wall_s"]) for r in table] == [("a", "0.8", "0.8", "", "3", "1.5"), ("b", "0.85", "0.9", "", "2", "2.0")]
    md = (tmp_path / "out/cmp.md").read_text().splitlines()
    assert md[0] == "| run | final_accuracy | best_accuracy | personal_accuracy | rounds_to_target | wall_s |"
    assert md[2] == "| a | 0.8000 | 0.8000 | - | 3 | 1.5000 |"
    assert "personal accuracy" not in res.stdout  # no run has personal models


def test_compare_errors_exit_2(cli):
    res = cli("compare", "nowhere", "-o", "x.png")
    assert res.returncode == 2 and "nowhere: not a run folder" in res.stderr
    res = cli("compare", "nowhere", "-o", "x.jpg")
    assert res.returncode == 2 and "must be a .png path" in res.stderr
    res = cli("compare", "nowhere", "--target", "1.5")
    assert res.returncode == 2 and "compare: --target is an accuracy in (0, 1], got 1.5" in res.stderr


def test_bytes_axis_is_cumulative_upload():
    from fedhive.reports.compare import x_values

    rows = [{"round": 1, "bytes_up": 100}, {"round": 2, "bytes_up": 50}, {"round": 3}]
    assert x_values(rows, "bytes_up") == [100, 150, 150]
    assert x_values(rows, "round") == [1, 2, 3]


def test_mean_band_over_seeds():
    import numpy as np

    from fedhive.reports.bands import mean_band

    a = Run("a", [{"round": 1, "test_accuracy": 0.2, "bytes_up": 10}, {"round": 2, "test_accuracy": 0.6, "bytes_up": 10}], {})
    b = Run("b", [{"round": 1, "test_accuracy": 0.4, "bytes_up": 20}, {"round": 2, "test_accuracy": 0.8, "bytes_up": 20},
                  {"round": 3, "test_accuracy": 0.9, "bytes_up": 20}], {})
    grid, mean, low, high = mean_band([a, b], "test_accuracy")  # rounds both runs have
    assert grid.tolist() == [1, 2] and np.allclose(mean, [0.3, 0.7])
    assert np.allclose(high - mean, np.std([0.2, 0.4], ddof=1))
    grid, mean, low, high = mean_band([a, b], "test_accuracy", band="minmax")
    assert np.allclose(low, [0.2, 0.6]) and np.allclose(high, [0.4, 0.8])
    grid, mean, _, _ = mean_band([a, b], "test_accuracy", x="bytes_up")  # overlap of cumulative bytes: 20..20
    assert grid.tolist() == [20.0] and np.allclose(mean, [(0.6 + 0.4) / 2])


def test_compare_sweep_folder_one_row_per_setting(cli, tmp_path):
    from tests.sweep.fixtures import fake_sweep

    fake_sweep(tmp_path / "runs/sw", {
        "a0": ({"lr": "0.1", "seed": "0"}, [0.5, 0.8], {}, {}),
        "a1": ({"lr": "0.1", "seed": "1"}, [0.6, 0.7], {}, {}),
        "b0": ({"lr": "1.0", "seed": "0"}, [0.9, 0.95], {}, {}),
    })
    res = cli("compare", "runs/sw", "-o", "out/s.png", "--band", "minmax", "--target", "0.75")
    assert res.returncode == 0, res.stderr
    table = list(csv.DictReader(open(tmp_path / "out/s.csv")))
    got = [(r["run"], float(r["final_accuracy"]), float(r["best_accuracy"]), r["rounds_to_target"]) for r in table]
    assert got == [("lr=0.1", pytest.approx(0.75), pytest.approx(0.75), "2.0"), ("lr=1.0", 0.95, 0.95, "1.0")]
    assert (tmp_path / "out/s.png").stat().st_size > 1000
    res = cli("compare", "runs/sw", "-o", "out/s.png", "--band", "iqr")
    assert res.returncode == 2 and "--band" in res.stderr
