"""`fedhive summarize`: a sweep's runs grouped by setting (all but the seed), with mean ± std,
min and max over seeds, written as summary.csv and summary.md."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, NamedTuple

from fedhive.config import read_yaml
from fedhive.errors import UserError
from fedhive.reports.compare import Run, format_cell, load_run, table_row
from fedhive.run_folder.files import atomic_write
from fedhive.run_folder.recorder import write_csv
from fedhive.sweep.runner import read_grid

STATS = ("mean", "std", "min", "max")
LABELS = {"final_accuracy": "final acc", "best_accuracy": "best acc", "rounds_to_target_mean": "rounds to target",
          "reached_target": "reached", "stop_round_mean": "stop round", "epsilon_mean": "ε", "bytes_up_mean": "bytes up"}


class Group(NamedTuple):
    """Runs of one setting (their swept values other than `seed`), one per seed."""

    setting: str
    runs: list[Run]
    configs: list[dict[str, Any]]


def setting_label(swept: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in swept.items() if k != "seed") or "(one setting)"


def load_groups(sweep_dir: str | Path) -> list[Group]:
    """The sweep's runs that have a summary, grouped by setting, in grid order."""
    sweep_dir = Path(sweep_dir)
    groups: dict[str, Group] = {}
    for run, entry in read_grid(sweep_dir)["runs"].items():
        folder = sweep_dir / run
        if not (folder / "summary.json").is_file():
            continue
        label = setting_label(entry["swept"])
        group = groups.setdefault(label, Group(label, [], []))
        group.runs.append(load_run(folder))
        group.configs.append(read_yaml(folder / "config.yaml"))
    if not groups:
        raise UserError(f"{sweep_dir}: no finished runs yet (run `fedhive sweep` first)")
    return list(groups.values())


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Mean, sample standard deviation (n − 1; 0 for one value), min and max of the values
    that are not None; all None if there are none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return dict.fromkeys(STATS)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": std, "min": min(vals), "max": max(vals)}


def group_row(group: Group, target: float) -> dict[str, Any]:
    """One table row: the spreads over seeds of final/best accuracy, rounds to `target`
    (mean over the seeds that reached it), final ε and bytes uploaded."""
    rows = [table_row(r, target) for r in group.runs]
    out: dict[str, Any] = {"setting": group.setting, "seeds": len(rows)}
    for name, key in (("final_accuracy", "final_accuracy"), ("best_accuracy", "best_accuracy")):
        out.update({f"{name}_{s}": v for s, v in spread([r[key] for r in rows]).items()})
    reached = [r["rounds_to_target"] for r in rows if r["rounds_to_target"] is not None]
    out["rounds_to_target_mean"] = statistics.fmean(reached) if reached else None
    out["reached_target"] = f"{len(reached)}/{len(rows)}"
    out["stop_round_mean"] = spread([r.summary.get("stop_round") for r in group.runs])["mean"]
    out["epsilon_mean"] = spread([r.summary.get("epsilon") for r in group.runs])["mean"]
    out["bytes_up_mean"] = spread([r.summary.get("bytes_up_total") for r in group.runs])["mean"]
    return out


def columns_for(groups: list[Group], rows: list[dict[str, Any]]) -> list[str]:
    """Every column, except ε where no run uses DP, bytes where none compresses, and the
    stop round where no run stopped early."""
    cols = list(rows[0])
    configs = [c for g in groups for c in g.configs]
    if not any(c.get("privacy", {}).get("mechanism", "none") != "none" for c in configs):
        cols.remove("epsilon_mean")
    if not any(c.get("compression", {}).get("name", "none") != "none" for c in configs):
        cols.remove("bytes_up_mean")
    if all(r["stop_round_mean"] is None for r in rows):
        cols.remove("stop_round_mean")
    return cols


def display(row: dict[str, Any], columns: list[str]) -> dict[str, str]:
    """Cells for people: `mean ± std` and `min–max` merged; other columns formatted."""
    out: dict[str, str] = {}
    for col in columns:
        stem, _, stat = col.rpartition("_")
        if stat == "mean" and f"{stem}_std" in row:
            out[LABELS[stem]] = f"{format_cell(row[col])} ± {format_cell(row[f'{stem}_std'])}"
        elif stat == "min":
            out[f"{LABELS[stem]} min–max"] = f"{format_cell(row[col])}–{format_cell(row[f'{stem}_max'])}"
        elif stat not in ("std", "max") or f"{stem}_mean" not in row:
            out[LABELS.get(col, col)] = format_cell(row[col])
    return out


def summarize(sweep_dir: str | Path, target: float = 0.9) -> tuple[list[dict[str, Any]], list[Path], list[str]]:
    """The table rows, the files written (summary.csv, summary.md) and the columns shown."""
    groups = load_groups(sweep_dir)
    rows = [group_row(g, target) for g in groups]
    columns = columns_for(groups, rows)
    csv_path, md_path = Path(sweep_dir) / "summary.csv", Path(sweep_dir) / "summary.md"
    write_csv([{c: r.get(c) for c in columns} for r in rows], csv_path, columns)
    atomic_write(md_path, markdown_table([display(r, columns) for r in rows]).encode())
    return rows, [csv_path, md_path], columns


def markdown_table(cells: list[dict[str, str]]) -> str:
    head = list(cells[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(c[h] for h in head) + " |" for c in cells]) + "\n"


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    cells = [display(r, columns) for r in rows]
    table = Table(title=title)
    for h in cells[0]:
        table.add_column(h, justify="left" if h == "setting" else "right", no_wrap=h == "setting")
    for c in cells:
        table.add_row(*c.values())
    Console().print(table)
