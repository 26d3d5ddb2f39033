"""Curves over seeds: the mean of a metric across a group's runs with a std or min–max band."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedhive.reports.compare import COLUMNS, Run, save_panels, x_values

BANDS = ("std", "minmax")


def _points(run: Run, col: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(at, r[col]) for at, r in zip(x_values(run.rows, x), run.rows) if r.get(col) is not None and at is not None]
    xs, ys = zip(*pts) if pts else ((), ())
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def mean_band(runs: list[Run], col: str, x: str = "round", band: str = "std"):
    """(x, mean, low, high) of `col` over the runs. By round: the rounds every run has;
    by a continuous axis: 200 points over the range every run covers, interpolated."""
    curves = [_points(r, col, x) for r in runs]
    curves = [c for c in curves if len(c[0])]
    if not curves:
        return None
    if x == "round":
        common = sorted(set.intersection(*(set(c[0].tolist()) for c in curves)))
        grid = np.asarray(common, dtype=float)
        ys = np.stack([c[1][np.isin(c[0], grid)] for c in curves])
    else:
        lo, hi = max(c[0][0] for c in curves), min(c[0][-1] for c in curves)
        grid = np.linspace(lo, hi, 200) if hi > lo else np.asarray([lo])
        ys = np.stack([np.interp(grid, *c) for c in curves])
    mean = ys.mean(axis=0)
    if band == "minmax":
        return grid, mean, ys.min(axis=0), ys.max(axis=0)
    std = ys.std(axis=0, ddof=1) if len(ys) > 1 else np.zeros_like(mean)
    return grid, mean, mean - std, mean + std


def plot_groups(groups: dict[str, list[Run]], out: Path, x: str = "round", band: str = "std") -> Path:
    """Test accuracy and loss: one colour per setting, its mean line and a shaded band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for i, (label, runs) in enumerate(groups.items()):
        colour = f"C{i % 10}"
        for ax, col in zip(axes, ("test_accuracy", "test_loss")):
            curve = mean_band(runs, col, x, band)
            if curve is None:
                continue
            grid, mean, low, high = curve
            ax.plot(grid, mean, color=colour, label=f"{label} (n={len(runs)})")
            ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)
    what = "± 1 std" if band == "std" else "min–max"
    labels = (f"test accuracy (mean over seeds, band {what})", f"test loss (mean over seeds, band {what})")
    return save_panels(fig, axes, x, labels, out)


def group_table_row(label: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A compare-table row for a setting: each column's mean over its seeds' rows."""
    def mean(key: str):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(vals)) if vals else None

    return {"run": label, **{k: mean(k) for k in COLUMNS if k != "run"}}
