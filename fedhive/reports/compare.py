"""Compare runs: their curves on shared axes in one PNG and a table of final numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from fedhive.errors import UserError
from fedhive.run_folder.files import atomic_write, save_figure
from fedhive.run_folder.recorder import read_metrics, write_csv

COLUMNS = ("run", "final_accuracy", "best_accuracy", "personal_accuracy", "rounds_to_target", "wall_s")


class Run(NamedTuple):
    name: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def load_run(run_dir: str | Path) -> Run:
    """A run folder's metrics rows and summary; a folder without metrics is a UserError."""
    path = Path(run_dir)
    if not (path / "metrics.jsonl").is_file():
        raise UserError(f"{path}: not a run folder (no metrics.jsonl)")
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return Run(path.name, read_metrics(path), summary)


def table_row(run: Run, target: float) -> dict[str, Any]:
    """Final and best test accuracy, the final mean personal-model accuracy (None without
    personal models), the first round reaching `target` (None if never) and the loop's
    wall time."""
    evals = [r for r in run.rows if r.get("test_accuracy") is not None]
    reached = [r["round"] for r in evals if r["test_accuracy"] >= target]
    wall = run.summary.get("loop_s", run.rows[-1].get("wall_s") if run.rows else None)
    return {
        "run": run.name,
        "final_accuracy": evals[-1]["test_accuracy"] if evals else None,
        "best_accuracy": max((r["test_accuracy"] for r in evals), default=None),
        "personal_accuracy": evals[-1].get("personal_accuracy_mean") if evals else None,
        "rounds_to_target": reached[0] if reached else None,
        "wall_s": wall,
    }


X_AXES = {"round": "round", "sim_time": "simulated time (s)", "wall_s": "wall time (s)",
          "bytes_up": "bytes uploaded, cumulative"}


def x_values(rows: list[dict[str, Any]], x: str) -> list[Any]:
    """Each row's position on the x axis; `bytes_up` is summed over the rounds so far."""
    if x != "bytes_up":
        return [r.get(x) for r in rows]
    total, out = 0, []
    for r in rows:
        total += r.get("bytes_up") or 0
        out.append(total)
    return out


def plot_runs(runs: list[Run], out: Path, x: str = "round") -> Path:
    """Test accuracy and loss against `x` (a column in X_AXES), one line per run, shared
    axes, one PNG; a run with personal models adds its mean personal accuracy, dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for run in runs:
        for ax, col in zip(axes, ("test_accuracy", "test_loss")):
            pts = [(at, r[col]) for at, r in zip(x_values(run.rows, x), run.rows)
                   if r.get(col) is not None and at is not None]
            if pts:
                ax.plot(*zip(*pts), label=run.name)
        personal = [(at, r["personal_accuracy_mean"]) for at, r in zip(x_values(run.rows, x), run.rows)
                    if r.get("personal_accuracy_mean") is not None and at is not None]
        if personal:
            axes[0].plot(*zip(*personal), linestyle="--", label=f"{run.name} (personal)")
    return save_panels(fig, axes, x, ("test accuracy", "test loss"), out)


def save_panels(fig, axes, x: str, ylabels: tuple[str, str], out: Path) -> Path:
    """Label the accuracy and loss panels, legend the first, write the PNG, close the figure."""
    import matplotlib.pyplot as plt

    for ax, label in zip(axes, ylabels):
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return out


def format_cell(v: Any) -> str:
    """A table cell: 4 decimals for floats, "-" for missing."""
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def write_table(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """The table as `<out>.csv` and `<out>.md` next to the plot."""
    csv_path, md_path = out.with_suffix(".csv"), out.with_suffix(".md")
    write_csv(rows, csv_path, COLUMNS)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(format_cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    atomic_write(md_path, ("\n".join(lines) + "\n").encode())
    return [csv_path, md_path]


def _check_axis(runs: list[Run], x: str) -> None:
    if x == "sim_time" and not all(any(r.get("sim_time") is not None for r in run.rows) for run in runs):
        raise UserError("compare: --x sim_time needs runs with a simulated clock (a system: or mode: async)")


def compare_groups(dirs: list[str | Path], out: Path, target: float, x: str, band: str):
    """compare() for sweep folders (each setting a group of seeds) and single runs."""
    from fedhive.reports.bands import BANDS, group_table_row, plot_groups
    from fedhive.reports.summarize import load_groups

    if band not in BANDS:
        raise UserError(f"compare: --band must be one of {', '.join(BANDS)}, got {band!r}")
    groups: dict[str, list[Run]] = {}
    sweeps = sum((Path(d) / "sweep.yaml").is_file() for d in dirs)
    for d in dirs:
        if (Path(d) / "sweep.yaml").is_file():
            for g in load_groups(d):
                groups[f"{Path(d).name}: {g.setting}" if sweeps > 1 else g.setting] = g.runs
        else:
            groups[str(d)] = [load_run(d)]
    _check_axis([r for runs in groups.values() for r in runs], x)
    rows = [group_table_row(label, [table_row(r, target) for r in runs]) for label, runs in groups.items()]
    return rows, [plot_groups(groups, out, x, band), *write_table(rows, out)]


def compare(run_dirs: list[str | Path], out: str | Path, target: float = 0.9,
            x: str = "round", band: str = "std") -> tuple[list[dict[str, Any]], list[Path]]:
    """Plot the runs into `out` (a .png path) against `x`, write the table beside it;
    returns the table rows and the written paths. If any folder is a sweep, each setting
    is drawn as its mean over seeds with a `band` (std or minmax) and is one table row."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"compare: the output must be a .png path, got {out}")
    if not 0 < target <= 1:
        raise UserError(f"compare: --target is an accuracy in (0, 1], got {target}")
    if x not in X_AXES:
        raise UserError(f"compare: --x must be one of {', '.join(X_AXES)}, got {x!r}")
    if any((Path(d) / "sweep.yaml").is_file() for d in run_dirs):
        return compare_groups(run_dirs, out, target, x, band)
    runs = [load_run(d) for d in run_dirs]
    _check_axis(runs, x)
    names = [r.name for r in runs]
    if len(set(names)) != len(names):  # same folder name under different parents
        runs = [r._replace(name=str(Path(d))) for r, d in zip(runs, run_dirs)]
    rows = [table_row(r, target) for r in runs]
    return rows, [plot_runs(runs, out, x), *write_table(rows, out)]
