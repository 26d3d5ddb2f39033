"""A run's curves as PNG files (matplotlib, Agg, loaded only here): loss and accuracy
always; client accuracy, epsilon, cumulative bytes and simulated time when the run has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedhive.run_folder.files import make_folder, save_figure

# file name -> (y label, columns, cumulative); loss and accuracy are always drawn, the
# others only when some row has one of their columns.
CURVES: dict[str, tuple[str, list[str], bool]] = {
    "loss": ("loss", ["train_loss", "test_loss", "global_train_loss"], False),
    "accuracy": ("test accuracy", ["test_accuracy"], False),
    "client_accuracy": ("client test accuracy",
                        ["client_accuracy_mean", "client_accuracy_p10", "client_accuracy_min"], False),
    "grad_dissimilarity": ("gradient dissimilarity", ["grad_dissimilarity"], False),
    "epsilon": ("privacy loss ε (cumulative)", ["epsilon"], False),
    "bytes": ("bytes, cumulative", ["bytes_up", "bytes_down"], True),
    "sim_time": ("simulated time (s)", ["sim_time"], False),
}
ALWAYS = ("loss", "accuracy")
# Curves drawn only when the config turns their feature on (bytes move in every run).
ENABLED_BY = {"bytes": lambda config: config.get("compression", {}).get("name", "none") != "none"}
MARKER_MAX_POINTS = 30  # sparser series (few evaluations) get a marker on every point


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: ~0.8 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_title(config: dict[str, Any] | None, name: str = "") -> str:
    """`name` then the dataset, algorithm and the settings that shape the curves."""
    if not config:
        return name
    server = config.get("server") or {}
    chain = ("+".join(s.get("name", "?") for s in server) if isinstance(server, list)
             else f"{server.get('aggregate')}+{server.get('optimizer')}")
    algorithm = config.get("algorithm") or config.get("client", {}).get("name")
    if isinstance(algorithm, dict):  # the resolved config stores `algorithm: {name: ..., hyperparameters}`
        algorithm = algorithm.get("name")
    cohort = config.get("cohort", {})
    k = f"q={cohort.get('rate')}" if cohort.get("sampler") == "poisson" else (
        f"K={cohort.get('min')}" if cohort.get("min") == cohort.get("max") else f"K={cohort.get('min')}..{cohort.get('max')}")
    parts = [config.get("data", {}).get("name"), f"{algorithm} ({chain})", k]
    partition = config.get("data", {}).get("partition", {})
    if config.get("data", {}).get("name") not in ("reference", "synthetic") and partition.get("name") != "iid":
        parts.append(f"{partition.get('name')} α={partition.get('alpha')}" if "dirichlet" in partition.get("name", "")
                     else partition.get("name"))
    privacy = config.get("privacy", {})
    if privacy.get("mechanism", "none") != "none":
        parts.append(f"{privacy['mechanism']} DP" + (f" ε={privacy['target_epsilon']}" if privacy.get("target_epsilon")
                                                     else f" z={privacy.get('noise_multiplier')}"))
    if config.get("compression", {}).get("name", "none") != "none":
        parts.append(config["compression"]["name"])
    if config.get("mode") == "async":
        parts.append("async")
    return f"{name}\n" + ", ".join(str(p) for p in parts if p) if name else ", ".join(str(p) for p in parts if p)


def _series(rows: list[dict[str, Any]], col: str, cumulative: bool) -> list[tuple[int, float]]:
    pts, total = [], 0.0
    for r in rows:
        if r.get(col) is not None:
            total = total + r[col] if cumulative else r[col]
            pts.append((r["round"], total))
    return pts


def plot_rows(rows: list[dict[str, Any]], out_dir: Path, title: str = "",
              config: dict[str, Any] | None = None) -> list[Path]:
    """Draw the run's curves (CURVES) from metrics rows into out_dir; the title names the
    run and, given its config (as JSON), the dataset, algorithm and key settings."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    make_folder(out_dir)
    heading = run_title(config, title)
    paths = []
    for name, (ylabel, columns, cumulative) in CURVES.items():
        series = {c: _series(rows, c, cumulative) for c in columns}
        if name not in ALWAYS and not any(series.values()):
            continue
        if config is not None and not ENABLED_BY.get(name, lambda c: True)(config):
            continue
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for col, pts in series.items():
            if pts:
                ax.plot(*zip(*pts), label=col.replace("_", " "), marker="o" if len(pts) <= MARKER_MAX_POINTS else None,
                        markersize=4)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max(r["round"] for r in rows) + 0.5) if rows else None  # one point: still whole rounds
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        _finish(fig, ax, heading, out_dir / f"{name}.png")
        paths.append(out_dir / f"{name}.png")
    if any(r.get("sim_time") is not None for r in rows):
        paths.append(plot_time_to_accuracy({"test accuracy": rows}, out_dir / "time_to_accuracy.png", heading))
    return paths


def _finish(fig, ax, title: str, path: Path) -> None:
    """Title, grid, a legend outside the axes (it never hides a curve), save, close."""
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    save_figure(fig, path)
    pyplot().close(fig)


def plot_time_to_accuracy(runs: dict[str, list[dict[str, Any]]], path: Path, title: str = "") -> Path:
    """Test accuracy against simulated time (the `sim_time` column), one curve per run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, rows in runs.items():
        pts = [(r["sim_time"], r["test_accuracy"]) for r in rows
               if r.get("sim_time") is not None and r.get("test_accuracy") is not None]
        if pts:
            ax.plot(*zip(*pts), label=name, marker="o" if len(pts) <= MARKER_MAX_POINTS else None, markersize=4)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("test accuracy")
    _finish(fig, ax, title, path)
    return path


def plot_run(run_dir: str | Path) -> list[Path]:
    """Redraw a run folder's plots from its metrics.jsonl (and config.yaml for the title)."""
    import yaml

    from fedhive.run_folder.recorder import read_metrics  # (its config models are not needed to draw)

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
    return plot_rows(read_metrics(run_dir), run_dir / "plots", title=run_dir.name, config=config)
