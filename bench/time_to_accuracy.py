"""The README's time-to-accuracy figure: sync FedAvg and FedBuff under the same log-normal
devices, test accuracy against simulated time.

    python bench/time_to_accuracy.py   # writes bench/time_to_accuracy.png (about 10 s)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fedhive.config import load_config  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402
from fedhive.reports.plots import plot_time_to_accuracy  # noqa: E402

RUNS = {"sync FedAvg, 10 clients/round": "sync_fedavg_lognormal.yaml",
        "FedBuff, 10 in flight, buffer 5": "fedbuff_lognormal.yaml"}


def main() -> None:
    runs = {}
    for name, config in RUNS.items():
        exp = Experiment(load_config(HERE.parent / "configs" / config))
        runs[name] = exp.run(save=False)
        last = runs[name][-1]
        print(f"{name}: accuracy {last['test_accuracy']:.3f} at {last['sim_time']:.1f} simulated s")
    path = plot_time_to_accuracy(runs, HERE / "time_to_accuracy.png", "log-normal device speeds (σ = 1)")
    print(path)


if __name__ == "__main__":
    main()
