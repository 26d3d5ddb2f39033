"""Reproductions that are measurements rather than training sweeps: LEAF's synthetic
statistics, SCAFFOLD's exact quadratic fixed point, DP-FedAvg's ε against dp-accounting
(and its accuracy at each ε). Each takes the output folder and its spec's params and
returns (rows, figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np


def _figure(draw: Callable, out: Path, xlabel: str, ylabel: str, log: str = "") -> Path:
    """One-panel PNG: `draw(ax)` then labels, log axes, legend."""
    return _panels(out, [(draw, xlabel, ylabel, log)])


def _panels(out: Path, panels: list[tuple[Callable, str, str, str]]) -> Path:
    """A PNG of panels side by side, each (draw(ax), xlabel, ylabel, log axes "x"/"y")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from fedhive.run_folder.files import save_figure

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), dpi=100, squeeze=False)
    for ax, (draw, xlabel, ylabel, log) in zip(axes[0], panels):
        draw(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if "x" in log:
            ax.set_xscale("log")
        if "y" in log:
            ax.set_yscale("log")
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            if name in log:  # plain numbers on a log axis (7, not 7×10^0)
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(plain)
        ax.margins(0.08, 0.1)  # room for point labels at the ends
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return out


def leaf_statistics(out: Path, seeds: list[int], devices: int = 1000) -> tuple[list[dict[str, Any]], Path]:
    """Per seed: total samples, mean and std (population) of samples per device, share of
    devices at LEAF's cap, and the classes present, from fedhive's leaf_synthetic data;
    then a row `seed: mean` of their means over the seeds."""
    from fedhive.config.sections import SyntheticConfig
    from fedhive.data.federated_synthetic import LEAF_MAX_SAMPLES, leaf_synthetic

    rows: list[dict[str, Any]] = []
    sizes = {}
    for seed in seeds:
        _, y, owner = leaf_synthetic(SyntheticConfig(), devices, seed)
        n = np.bincount(owner, minlength=devices)
        sizes[seed] = n
        rows.append({"seed": seed, "devices": devices, "samples": int(n.sum()), "mean": float(n.mean()),
                     "std": float(n.std()), "at_cap": float((n >= LEAF_MAX_SAMPLES).mean()),
                     "classes": int(len(np.unique(y)))})
    means = {k: float(np.mean([r[k] for r in rows])) for k in ("samples", "mean", "std", "at_cap")}
    rows.append({"seed": "mean", "devices": devices, **means, "classes": min(r["classes"] for r in rows),
                 "at_cap_over_seeds": means["at_cap"]})
    bins = np.logspace(np.log10(5), np.log10(LEAF_MAX_SAMPLES + 1), 30)
    draw = lambda ax: [ax.hist(n, bins=bins, histtype="step", label=f"seed {s}") for s, n in sizes.items()]  # noqa: E731
    return rows, _figure(draw, out / "figure.png", "samples per device", "devices", log="x")


def scaffold_quadratic(out: Path, steps: list[int], rounds: int = 100) -> tuple[list[dict[str, Any]], Path]:
    """Distance to the global minimizer after `rounds` for FedAvg and SCAFFOLD at each K."""
    from fedhive.reproduce.quadratic import fedavg_path, global_minimizer, quadratic_clients, scaffold_path

    clients = quadratic_clients()
    best = global_minimizer(clients)
    rows, curves = [], {}
    for name, path_of in (("fedavg", fedavg_path), ("scaffold", scaffold_path)):
        for k in steps:
            dist = [float((w - best).norm()) for w in path_of(k, clients, rounds)]
            curves[f"{name} K={k}"] = dist
            rows.append({"algorithm": name, "local_steps": k, "rounds": rounds, "distance": dist[-1]})
    draw = lambda ax: [ax.plot(range(1, rounds + 1), np.maximum(d, 1e-17), label=lbl)  # noqa: E731
                       for lbl, d in curves.items()]
    return rows, _figure(draw, out / "figure.png", "round", "‖w − w*‖", log="y")


def dp_epsilon(out: Path, noise: list[float], rate: float, rounds: int, delta: float, every: int = 10,
               training: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], Path]:
    """ε of fedhive's per-round meter (the metrics' `epsilon` column) and of dp-accounting's
    default PLD accountant called directly, for Poisson sampling at `rate` (rows `part:
    accounting`). `training: {config, noise}` also trains that config with central DP at this
    rate for each of its noise multipliers (rows `part: training`: final test accuracy, the
    run's ε column and dp-accounting's ε for its rounds), plotted as accuracy against ε."""
    import torch

    from fedhive.privacy.accounting import Sampling, epsilon_meter
    from fedhive.server.chain import RoundContext

    rows, curves = [], {}
    for z in noise:
        meter = epsilon_meter(z, delta, Sampling("poisson", rate))
        ours, ref, at = [], [], list(range(every, rounds + 1, every))
        for t in at:
            ctx = RoundContext(round=t - 1, params=torch.zeros(1), weights=torch.ones(1))
            meter.update(torch.zeros(1), meter.init(torch.zeros(1)), ctx)
            ours.append(ctx.metrics["epsilon"])
            ref.append(_pld_epsilon(z, rate, t, delta))
        curves[z] = (at, ours, ref)
        rows.append({"part": "accounting", "z": z, "q": rate, "rounds": rounds, "delta": delta, "epsilon": ours[-1],
                     "dp_accounting": ref[-1], "max_diff": float(np.max(np.abs(np.subtract(ours, ref))))})
    panels = [(lambda ax: _epsilon_curves(ax, curves), "round", f"ε at δ={delta:g}", "y")]
    if training is not None:
        trained = [_dp_training(out, training["config"], z, rate, delta) for z in training["noise"]]
        rows += trained
        panels.append((lambda ax: _accuracy_at_epsilon(ax, trained), f"ε at δ={delta:g} (dp-accounting)",
                       "final test accuracy", "x"))
    return rows, _panels(out / "figure.png", panels)


def _pld_epsilon(z: float, rate: float, rounds: int, delta: float) -> float:
    """dp-accounting's default PLD ε for `rounds` Poisson-sampled Gaussian mechanisms."""
    from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent, pld

    acc = pld.PLDAccountant()
    acc.compose(PoissonSampledDpEvent(rate, GaussianDpEvent(z)), rounds)
    return float(acc.get_epsilon(delta))


def _epsilon_curves(ax, curves: dict) -> None:
    for i, (z, (at, ours, ref)) in enumerate(curves.items()):
        ax.plot(at, ours, color=f"C{i}", label=f"fedhive z={z}")
        ax.plot(at, ref, "o", color=f"C{i}", fillstyle="none", label=f"dp-accounting z={z}")


def _dp_training(out: Path, config: dict[str, Any], z: float, rate: float, delta: float) -> dict[str, Any]:
    """Train `config` with central DP (Poisson cohorts at `rate`, noise multiplier z) into
    out/dp-z<z>: its final test accuracy, its ε column and dp-accounting's ε for its rounds."""
    from fedhive import run
    from fedhive.config import apply_overrides, build_config

    history = run(build_config(apply_overrides(config, [
        f"output_dir={out}", f"name=dp-z{z}", "privacy.mechanism=central", f"privacy.noise_multiplier={z}",
        f"privacy.delta={delta}", "cohort.sampler=poisson", f"cohort.rate={rate}"])), quiet=True)
    accuracy = [h["test_accuracy"] for h in history if h.get("test_accuracy") is not None][-1]
    rounds, epsilon = history[-1]["round"], float(history[-1]["epsilon"])
    reference = _pld_epsilon(z, rate, rounds, delta)
    return {"part": "training", "z": z, "q": rate, "rounds": rounds, "delta": delta, "epsilon": epsilon,
            "dp_accounting": reference, "max_diff": abs(epsilon - reference), "accuracy": float(accuracy)}


def _accuracy_at_epsilon(ax, rows: list[dict[str, Any]]) -> None:
    ax.plot([r["dp_accounting"] for r in rows], [r["accuracy"] for r in rows], "o-", label="DP-FedAvg")
    right = max(r["dp_accounting"] for r in rows)
    for r in rows:  # the rightmost label goes to the left of its point, inside the axes
        last = r["dp_accounting"] == right
        ax.annotate(f"z={r['z']}", (r["dp_accounting"], r["accuracy"]), textcoords="offset points",
                    xytext=(-6 if last else 6, -10 if last else 4), ha="right" if last else "left", fontsize="small")


MEASURES: dict[str, Callable[..., tuple[list[dict[str, Any]], Path]]] = {
    "leaf_statistics": leaf_statistics, "scaffold_quadratic": scaffold_quadratic, "dp_epsilon": dp_epsilon}
