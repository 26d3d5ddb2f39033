"""Every shipped config on both engines: is the default (vectorized) engine ever slower
than the sequential one? `python bench/engines_by_config.py [--rounds 3] [--repeats 3]`

Each config of configs/ runs shortened (`rounds`, one evaluation at the end) on
`engine.name=sequential` and `engine.name=vectorized`, interleaved repeat by repeat, in
this process with one torch thread; the table gives the median loop seconds of each, the
ratio (vectorized / sequential: below 1 is faster) and whether both ended on the same test
loss. Configs whose dataset is not on this machine (LEAF, TFF, CIFAR files) are listed as
skipped with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from run import write_markdown  # noqa: E402  (bench/run.py)

from fedhive.config import load_config  # noqa: E402
from fedhive.errors import UserError  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402

ENGINES = ("sequential", "vectorized")
BEGIN, END = "<!-- bench:engines -->", "<!-- /bench:engines -->"


def loop_seconds(path: Path, engine: str, rounds: int) -> tuple[float, float]:
    """(seconds of `Experiment.run`, final test loss) of `path` shortened to `rounds`."""
    config = load_config(path, [f"rounds={rounds}", f"eval_every={rounds}", f"engine.name={engine}"])
    exp = Experiment(config)
    start = time.perf_counter()
    history = exp.run(save=False, quiet=True)
    return time.perf_counter() - start, float(history[-1]["test_loss"])


def measure(path: Path, rounds: int, repeats: int) -> dict:
    """Median loop seconds per engine, their ratio and whether the test losses agree."""
    seconds: dict[str, list[float]] = {e: [] for e in ENGINES}
    loss: dict[str, float] = {}
    for _ in range(repeats):
        for engine in ENGINES:  # interleaved, so a busy spell slows both alike
            s, loss[engine] = loop_seconds(path, engine, rounds)
            seconds[engine].append(s)
    seq, vec = (statistics.median(seconds[e]) for e in ENGINES)
    a, b = loss["sequential"], loss["vectorized"]
    return {"config": path.name, "sequential_s": seq, "vectorized_s": vec, "ratio": vec / seq,
            "same_loss": abs(a - b) <= 1e-4 * max(1.0, abs(a))}


def table(rows: list[dict], skipped: list[tuple[str, str]]) -> str:
    lines = ["| config | sequential s | vectorized s | vectorized / sequential | same test loss |",
             "|---|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: -r["ratio"]):
        lines.append(f"| {r['config']} | {r['sequential_s']:.2f} | {r['vectorized_s']:.2f} | "
                     f"{r['ratio']:.2f} | {'yes' if r['same_loss'] else 'no'} |")
    slower = [r["config"] for r in rows if r["ratio"] > 1.0]
    lines.append("")
    lines.append(f"Slower than sequential: {', '.join(slower) if slower else 'none'} "
                 f"(of {len(rows)} configs run).")
    if skipped:
        lines.append("Skipped (dataset files not on this machine): "
                     + "; ".join(f"{name} ({why})" for name, why in skipped) + ".")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="rounds per run (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    p.add_argument("--configs", type=Path, default=BENCH.parent / "configs", help="folder of configs")
    p.add_argument("--markdown", type=Path, help="rewrite the engines block of this Markdown file")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows, skipped = [], []
    for path in sorted(args.configs.glob("*.yaml")):
        print(f"{path.name} ...", file=sys.stderr, flush=True)
        try:
            rows.append(measure(path, args.rounds, args.repeats))
        except UserError as e:  # a dataset that needs files this machine does not have
            skipped.append((path.name, str(e)[:90]))
    text = table(rows, skipped)
    print(text)
    if args.markdown:
        write_markdown(args.markdown, text, BEGIN, END)


if __name__ == "__main__":
    main()
