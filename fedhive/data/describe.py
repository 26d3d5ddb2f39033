"""Partition statistics (client sizes, label entropy) and a label-distribution plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from fedhive.run_folder.files import atomic_write, save_figure

PLOT_CLIENTS = 30  # clients shown in the stacked-bar plot


def _spread(t: torch.Tensor) -> dict[str, float]:
    t = t.double()
    return {"min": t.min().item(), "median": t.median().item(), "mean": t.mean().item(),
            "max": t.max().item(), "std": t.std(unbiased=False).item()}


def partition_stats(dataset: Any) -> dict[str, Any] | None:
    """Clients, samples and per-client size and label statistics; None for datasets
    whose clients hold no fixed data (the reference task)."""
    counts = dataset.label_counts()
    if counts is None:
        return None
    sizes = counts.sum(1)
    p = counts.double() / sizes.clamp_min(1)[:, None]
    entropy = (p * torch.log2(p.where(p > 0, torch.ones(())))).sum(1).abs()  # abs: no -0.0
    split = dataset.client_test_split()
    return {
        "name": dataset.name,
        "clients": dataset.num_clients,
        "classes": dataset.num_classes,
        "input_shape": list(dataset.input_shape),
        "train_samples": int(sizes.sum()),
        "client_test_samples": 0 if split is None else len(split.y),
        "test_samples": len(dataset.test_set(0)[1]),
        "client_size": _spread(sizes),
        "label_entropy_bits": {**_spread(entropy), "uniform": math.log2(dataset.num_classes)},
        "classes_per_client": _spread((counts > 0).sum(1)),
        "partition": dataset.info.get("partition"),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """The statistics as a few aligned lines of text."""
    s, e, c = stats["client_size"], stats["label_entropy_bits"], stats["classes_per_client"]
    part = stats.get("partition") or {}
    lines = [
        f"dataset        {stats['name']}  (input {tuple(stats['input_shape'])}, {stats['classes']} classes)",
        f"partition      {json.dumps(part)}",
        f"clients        {stats['clients']}",
        f"samples        train {stats['train_samples']}, clients' test {stats['client_test_samples']}, "
        f"global test {stats['test_samples']}",
        f"client size    min {s['min']:.0f}  median {s['median']:.0f}  mean {s['mean']:.1f}  max {s['max']:.0f}"
        f"  std {s['std']:.1f}",
        f"label entropy  mean {e['mean']:.3f}  min {e['min']:.3f}  max {e['max']:.3f} bits"
        f"  (uniform: {e['uniform']:.3f})",
        f"classes/client mean {c['mean']:.2f}  min {c['min']:.0f}  max {c['max']:.0f}",
    ]
    return "\n".join(lines)


def plot_label_distribution(counts: torch.Tensor, path: Path, title: str = "") -> Path:
    """Up to PLOT_CLIENTS clients, evenly spaced by id: each client's training-set size
    (top; a log scale when sizes differ tenfold or more) and its label fractions (stacked to
    1, bottom), so that clients of very different sizes stay readable side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = torch.linspace(0, len(counts) - 1, min(PLOT_CLIENTS, len(counts))).round().long().unique()
    data = counts[shown].double()
    sizes = data.sum(1)
    fractions = (data / sizes.clamp_min(1).unsqueeze(1)).numpy()
    fig, (top, ax) = plt.subplots(2, 1, figsize=(9, 5), dpi=100, sharex=True, height_ratios=[1, 3])
    x = range(len(shown))
    top.bar(x, sizes.numpy(), color="0.35", width=0.85)
    if sizes.max() >= 10 * sizes.clamp_min(1).min():  # only skewed sizes need it; near-equal ones get unreadable ticks
        top.set_yscale("log")
    top.set_ylabel("samples")
    top.set_title(title or "label distribution per client")
    bottom = torch.zeros(len(shown), dtype=torch.float64).numpy()
    cmap = plt.get_cmap("tab10" if counts.shape[1] <= 10 else "tab20")
    for k in range(counts.shape[1]):
        ax.bar(x, fractions[:, k], bottom=bottom, color=cmap(k % cmap.N), label=str(k), width=0.85)
        bottom += fractions[:, k]
    ax.set_xticks(x, [str(int(i)) for i in shown], rotation=90, fontsize=7)
    ax.set_xlabel("client")
    ax.set_ylabel("fraction of its samples")
    ax.set_ylim(0, 1)
    if counts.shape[1] <= 20:
        ax.legend(title="label", fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def describe_into(dataset: Any, out_dir: Path) -> dict[str, Any] | None:
    """Write `data.json` and `plots/label_distribution.png` into out_dir (a run folder)."""
    stats = partition_stats(dataset)
    if stats is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "data.json", (json.dumps(stats, indent=2) + "\n").encode())
    plot_label_distribution(dataset.label_counts(), out_dir / "plots" / "label_distribution.png",
                            f"{stats['name']}: label distribution per client")
    return stats
