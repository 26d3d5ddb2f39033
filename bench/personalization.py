"""The README's personalization tables: global and personal accuracy of FedAvg, FedProx,
SCAFFOLD, FedDyn, Ditto, FedRep, APFL, IFCA and q-FFL, mean ± std over seeds, on digits,
50 clients with Dirichlet(0.1) label skew (configs/digits_dirichlet.yaml), or on
Fashion-MNIST, 100 clients with 2 label-sorted shards each (configs/fashion_mnist_shards.yaml).

    python bench/personalization.py --rounds 30 --seeds 3   # prints a markdown table
    python bench/personalization.py --setting fashion_mnist_shards --rounds 10 --seeds 3 --jobs 3
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fedhive.config import load_config  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402

# The base config of each setting, and how the table's heading describes it.
SETTINGS = {
    "digits_dirichlet": "digits, 50 clients, Dirichlet(0.1), MLP 64, local SGD lr 0.5 for 2 epochs",
    "fashion_mnist_shards": "Fashion-MNIST, 100 clients, 2 label-sorted shards each, MLP 64, "
                            "local SGD lr 0.1 for 1 epoch",
}
# Each method with the base config's client settings.
METHODS = {
    "FedAvg": ["algorithm=fedavg"],
    "FedProx": ["algorithm=fedprox", "algorithm.mu=0.01"],
    "SCAFFOLD": ["algorithm=scaffold", "server.aggregate=weighted_mean"],
    "FedDyn": ["algorithm=feddyn", "algorithm.alpha=0.01", "server.aggregate=weighted_mean"],
    "Ditto": ["algorithm=ditto", "algorithm.lam=0.1"],
    "FedRep": ["algorithm=fedrep", "algorithm.head_epochs=2"],
    "APFL": ["algorithm=apfl"],
    "IFCA": ["algorithm=ifca", "algorithm.clusters=2"],
    "q-FFL": ["algorithm=qffl", "algorithm.q=1", "server.aggregate=sum"],
}
COLUMNS = {"global (test set)": "test_accuracy", "global, client mean": "client_accuracy_mean",
           "global, client p10": "client_accuracy_p10", "personal, client mean": "personal_accuracy_mean",
           "personal, client p10": "personal_accuracy_p10"}


def final_row(setting: str, overrides: list[str], rounds: int, seed: int, threads: int | None = None) -> dict:
    config = load_config(HERE.parent / "configs" / f"{setting}.yaml",
                         [*overrides, f"rounds={rounds}", f"eval_every={rounds}", f"seed={seed}",
                          *([f"engine.threads={threads}"] if threads else [])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Experiment(config).run(save=False)[-1]


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--setting", choices=SETTINGS, default="digits_dirichlet")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, in worker processes of one torch thread each")
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{SETTINGS[args.setting]}, 10 clients a round, {args.rounds} rounds, {args.seeds} seeds\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    runs = list(itertools.product(METHODS, range(args.seeds)))
    threads = 1 if args.jobs > 1 else None  # N workers of one thread each do not oversubscribe the cores
    with ProcessPoolExecutor(args.jobs) as pool:
        finals = {(name, seed): pool.submit(final_row, args.setting, METHODS[name], args.rounds, seed, threads)
                  for name, seed in runs}
        for name in METHODS:
            rows = [finals[name, seed].result() for seed in range(args.seeds)]
            cells = [cell([r[key] for r in rows if r.get(key) is not None]) for key in COLUMNS.values()]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
