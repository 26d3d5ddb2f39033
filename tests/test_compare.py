"""`fedhive compare`: shared-axes curves, the table, both written next to the output path."""

from __future__ import annotations

import csv
import json

from fedhive.compare import Run, table_row


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


def test_bytes_axis_is_cumulative_upload():
    from fedhive.compare import x_values

    rows = [{"round": 1, "bytes_up": 100}, {"round": 2, "bytes_up": 50}, {"round": 3}]
    assert x_values(rows, "bytes_up") == [100, 150, 150]
    assert x_values(rows, "round") == [1, 2, 3]
