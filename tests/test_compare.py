"""`fedhive compare`: shared-axes curves, the table, both written next to the output path."""

from __future__ import annotations

import csv

from fedhive.compare import table_row, Run


def test_table_row_final_best_and_rounds_to_target():
    rows = [{"round": 1, "test_accuracy": 0.5}, {"round": 2, "test_accuracy": None},
            {"round": 3, "test_accuracy": 0.93}, {"round": 4, "test_accuracy": 0.91, "wall_s": 2.5}]
    row = table_row(Run("a", rows, {}), target=0.9)
    assert row == {"run": "a", "final_accuracy": 0.91, "best_accuracy": 0.93, "rounds_to_target": 3, "wall_s": 2.5}
    assert table_row(Run("a", rows, {"loop_s": 9.0}), target=0.95)["rounds_to_target"] is None
    assert table_row(Run("a", rows, {"loop_s": 9.0}), target=0.95)["wall_s"] == 9.0


def test_compare_cli_writes_png_csv_and_md(cli, tmp_path):
    for name, alg in (("a", "fedsgd"), ("b", "fedavg")):
        res = cli("run", f"algorithm={alg}", "rounds=3", "cohort.min=3", "cohort.max=4", "data.batch_size=50",
                  f"name={name}", "--quiet")
        assert res.returncode == 0, res.stderr
    res = cli("compare", "runs/a", "runs/b", "-o", "out/cmp.png", "--target", "0.5")
    assert res.returncode == 0, res.stderr
    assert "final accuracy" in res.stdout and "rounds to target" in res.stdout
    assert (tmp_path / "out/cmp.png").stat().st_size > 1000
    table = list(csv.DictReader(open(tmp_path / "out/cmp.csv")))
    assert [r["run"] for r in table] == ["a", "b"] and table[0]["rounds_to_target"] == "1"
    assert (tmp_path / "out/cmp.md").read_text().startswith("| run | final_accuracy")


def test_compare_errors_exit_2(cli):
    res = cli("compare", "nowhere", "-o", "x.png")
    assert res.returncode == 2 and "nowhere: not a run folder" in res.stderr
    res = cli("compare", "nowhere", "-o", "x.jpg")
    assert res.returncode == 2 and "must be a .png path" in res.stderr
