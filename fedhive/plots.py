"""Loss and accuracy curves of a run, as PNG files (matplotlib, Agg, loaded only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedhive.recorder import read_metrics
from fedhive.run_files import save_figure

CURVES = {
    "loss": ("loss", ["train_loss", "test_loss"]),
    "accuracy": ("test accuracy", ["test_accuracy"]),
}


def plot_rows(rows: list[dict[str, Any]], out_dir: Path, title: str = "") -> list[Path]:
    """Draw `loss.png` and `accuracy.png` from metrics rows into out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (ylabel, columns) in CURVES.items():
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for col in columns:
            pts = [(r["round"], r[col]) for r in rows if r.get(col) is not None]
            if pts:
                ax.plot(*zip(*pts), label=col.replace("_", " "))
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"{name}.png"))
        plt.close(fig)
    if any(r.get("sim_time") is not None for r in rows):
        paths.append(plot_time_to_accuracy({"test accuracy": rows}, out_dir / "time_to_accuracy.png", title))
    return paths


def plot_time_to_accuracy(runs: dict[str, list[dict[str, Any]]], path: Path, title: str = "") -> Path:
    """Test accuracy against simulated time (the `sim_time` column), one curve per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, rows in runs.items():
        pts = [(r["sim_time"], r["test_accuracy"]) for r in rows
               if r.get("sim_time") is not None and r.get("test_accuracy") is not None]
        if pts:
            ax.plot(*zip(*pts), label=name)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_run(run_dir: str | Path) -> list[Path]:
    """Redraw a run folder's plots from its metrics.jsonl."""
    run_dir = Path(run_dir)
    return plot_rows(read_metrics(run_dir), run_dir / "plots", title=run_dir.name)
