"""Reproductions that are measurements rather than training sweeps: LEAF's synthetic
statistics, SCAFFOLD's exact quadratic fixed point, DP-FedAvg's ε against dp-accounting.
Each takes the output folder and its spec's params and returns (rows, figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np


def _figure(draw: Callable, out: Path, xlabel: str, ylabel: str, log: str = "") -> Path:
    """One-panel PNG: `draw(ax)` then labels, log axes, legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fedhive.run_folder.files import save_figure

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    draw(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
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


def dp_epsilon(out: Path, noise: list[float], rate: float, rounds: int, delta: float,
               every: int = 10) -> tuple[list[dict[str, Any]], Path]:
    """ε of fedhive's per-round meter (the metrics' `epsilon` column) and of dp-accounting's
    default PLD accountant called directly, for Poisson sampling at `rate`."""
    import torch
    from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent, pld

    from fedhive.privacy.accounting import Sampling, epsilon_meter
    from fedhive.server.chain import RoundContext

    rows, curves = [], {}
    for z in noise:
        meter = epsilon_meter(z, delta, Sampling("poisson", rate))
        ours, ref, at = [], [], list(range(every, rounds + 1, every))
        for t in at:
            ctx = RoundContext(round=t - 1, params=torch.zeros(1), weights=torch.ones(1))
            meter.update(torch.zeros(1), meter.init(torch.zeros(1)), ctx)
            acc = pld.PLDAccountant()
            acc.compose(PoissonSampledDpEvent(rate, GaussianDpEvent(z)), t)
            ours.append(ctx.metrics["epsilon"])
            ref.append(float(acc.get_epsilon(delta)))
        curves[z] = (at, ours, ref)
        rows.append({"z": z, "q": rate, "rounds": rounds, "delta": delta, "epsilon": ours[-1],
                     "dp_accounting": ref[-1], "max_diff": float(np.max(np.abs(np.subtract(ours, ref))))})

    def draw(ax):
        for i, (z, (at, ours, ref)) in enumerate(curves.items()):
            ax.plot(at, ours, color=f"C{i}", label=f"fedhive z={z}")
            ax.plot(at, ref, "o", color=f"C{i}", fillstyle="none", label=f"dp-accounting z={z}")

    return rows, _figure(draw, out / "figure.png", "round", f"ε at δ={delta:g}", log="y")


MEASURES: dict[str, Callable[..., tuple[list[dict[str, Any]], Path]]] = {
    "leaf_statistics": leaf_statistics, "scaffold_quadratic": scaffold_quadratic, "dp_epsilon": dp_epsilon}
