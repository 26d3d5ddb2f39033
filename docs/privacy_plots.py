"""Redraws docs/accuracy_vs_epsilon.png and docs/accuracy_vs_bytes.png: the reference task
under central DP at a few noise multipliers, and under each upload codec.

Run from the repository root: `python docs/privacy_plots.py` (a few minutes on a laptop).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fedhive.config import build_config  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402

OUT = Path(__file__).parent
BASE = ["rounds=40", "data.batch_size=250", "cohort.sampler=poisson", "cohort.rate=0.025"]
NOISE = [0.3, 0.5, 0.8, 1.2, 2.0]
CODECS = {
    "float32": [], "fp16": ["compression.name=fp16"], "fp8": ["compression.name=fp8"],
    "qsgd s=2": ["compression.name=qsgd", "compression.levels=2"],
    "top-1 + EF": ["compression.name=topk", "compression.fraction=0.3", "compression.error_feedback=true"],
    "rand-1 + EF": ["compression.name=randk", "compression.fraction=0.3", "compression.error_feedback=true"],
}


def final(overrides: list[str]) -> dict:
    rows = Experiment(build_config({}, BASE + overrides)).run(save=False)
    return {"accuracy": rows[-1]["test_accuracy"], "epsilon": rows[-1].get("epsilon"),
            "bytes_up": sum(r["bytes_up"] for r in rows)}


def scatter(points: list[tuple[float, float, str]], xlabel: str, path: Path, logx: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
    xs, ys, labels = zip(*points)
    ax.plot(xs, ys, "o-" if len(points) > 1 and logx else "o")
    for i, (x, y, label) in enumerate(points):  # staggered, as codecs may share a point
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4 - 9 * (i % 3)), fontsize=7)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("final test accuracy")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    dp = ["privacy.mechanism=central", "privacy.clip=1.0"]
    eps = [(r["epsilon"], r["accuracy"], f"z={z}") for z in NOISE
           for r in [final(dp + [f"privacy.noise_multiplier={z}"])]]
    base = final([])
    print("no DP", base)
    for e in eps:
        print(e)
    scatter(sorted(eps), "epsilon at delta=1e-5 (40 rounds, q=0.025)", OUT / "accuracy_vs_epsilon.png", logx=True)
    comp = [(r["bytes_up"], r["accuracy"], name) for name, o in CODECS.items() for r in [final(o)]]
    for c in comp:
        print(c)
    scatter(comp, "bytes uploaded in total", OUT / "accuracy_vs_bytes.png")


if __name__ == "__main__":
    main()
