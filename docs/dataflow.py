"""Draw docs/dataflow.png: the data flow of one round (config -> sampler -> data -> engine ->
server chain -> evaluation -> recorder), redrawn with `python docs/dataflow.py`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

OUT = Path(__file__).with_name("dataflow.png")

# (key, x, y, title, detail): the steps of a round, top to bottom, as DESIGN.md §3 lists them.
BOXES = [
    ("config", 0.5, 9.0, "config.yaml + overrides", "validated once -> Experiment"),
    ("sampler", 0.5, 7.6, "sampler(round)", "cohort ids [K], keyed by (seed, round)"),
    ("system", 3.9, 7.6, "system model", "completion times, deadline,\nover-commit, dropout"),
    ("data", 0.5, 6.2, "dataset.batches(ids, round)", "padded tensors [K, B, ...] + mask"),
    ("engine", 0.5, 4.8, "engine.run(client_update, ...)", "updates [K, P] or running sums,\nweights [K], metrics"),
    ("chain", 0.5, 3.4, "server chain", "clip -> aggregate -> noise -> optimizer"),
    ("eval", 0.5, 2.0, "evaluate(params)", "test set, every eval_every rounds"),
    ("recorder", 0.5, 0.6, "recorder", "metrics row, progress, checkpoint"),
]
ARROWS = [("config", "sampler"), ("sampler", "data"), ("sampler", "system"), ("system", "data"),
          ("data", "engine"), ("engine", "chain"), ("chain", "eval"), ("eval", "recorder")]
WIDTH, HEIGHT = 3.0, 1.0
KEYED = {"sampler", "data", "engine", "chain"}  # steps that draw randomness from keyed generators


def draw() -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8.5, 8.2))
    centers = {}
    for key, x, y, title, detail in BOXES:
        color = "#dbe9f6" if key in KEYED else "#eeeeee"
        ax.add_patch(FancyBboxPatch((x, y), WIDTH, HEIGHT, boxstyle="round,pad=0.05", fc=color, ec="#33506b"))
        ax.text(x + WIDTH / 2, y + 0.68, title, ha="center", va="center", fontsize=10, weight="bold",
                family="monospace")
        ax.text(x + WIDTH / 2, y + 0.3, detail, ha="center", va="center", fontsize=8)
        centers[key] = (x, y)
    for a, b in ARROWS:
        (xa, ya), (xb, yb) = centers[a], centers[b]
        if ya == yb:  # side by side: from the right edge to the left edge
            start, end = (xa + WIDTH, ya + HEIGHT / 2), (xb, yb + HEIGHT / 2)
        elif xa == xb:  # one above the other
            start, end = (xa + WIDTH / 2, ya), (xb + WIDTH / 2, yb + HEIGHT)
        else:  # back from the side column into the main one
            start, end = (xa + WIDTH / 2, ya), (xb + WIDTH, yb + HEIGHT / 2)
        ax.annotate("", end, start, arrowprops=dict(arrowstyle="-|>", color="#33506b", lw=1.4,
                                                    connectionstyle="angle,angleA=-90,angleB=0" if xa != xb and ya != yb
                                                    else "arc3"))
    # The chain's new params and state start the next round.
    ax.annotate("", (0.5, 7.6 + HEIGHT / 2), (0.5, 3.4 + HEIGHT / 2),
                arrowprops=dict(arrowstyle="-|>", color="#a05a2c", lw=1.4, connectionstyle="bar,fraction=-0.12"))
    ax.text(-0.15, 5.6, "new params,\nchain state:\nnext round", ha="right", va="center", fontsize=8,
            color="#a05a2c")
    ax.text(5.4, 5.2, "engines: sequential,\nvectorized (vmap),\ndistributed (ranks)", ha="center", va="center",
            fontsize=8, style="italic")
    ax.text(5.4, 3.9, "async mode: the chain runs\nafter every buffer_size\narrivals on the simulated clock",
            ha="center", va="center", fontsize=8, style="italic")
    ax.text(5.4, 1.1, "blue: draws from keyed RNG\n(seed, round, client, purpose)", ha="center", va="center",
            fontsize=8, color="#33506b")
    ax.set_xlim(-1.6, 7.2)
    ax.set_ylim(0.2, 10.3)
    ax.set_axis_off()
    ax.set_title("fedhive: data flow of one round", fontsize=12)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw().savefig(OUT, dpi=110)
    print(OUT)
