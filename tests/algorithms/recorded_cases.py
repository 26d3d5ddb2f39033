"""Small runs of every algorithm whose metrics were recorded before the algorithm modules
existed (`recorded_metrics.json`); `python -m tests.algorithms.recorded_cases` rewrites it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fedhive.config import load_config
from tests.noniid import skewed_experiment

FIXTURE = Path(__file__).with_name("recorded_metrics.json")
TASK = ["rounds=3", "data.clients=60", "cohort.min=8", "cohort.max=10", "data.batch_size=40",
        "data.batches.min=2", "data.batches.max=3"]
ENGINES = ("sequential", "vectorized")
KEYS = ("train_loss", "test_loss", "test_accuracy", "samples", "dropped", "clients")

CASES: dict[str, list[str]] = {
    "fedsgd": ["algorithm=fedsgd"],
    "fedavg": ["algorithm=fedavg", "client.lr=2.0"],
    "fedavgm": ["algorithm=fedavgm", "client.lr=1.0"],
    "fedprox": ["algorithm=fedprox", "client.lr=2.0"],
    "scaffold": ["algorithm=scaffold", "client.lr=2.0"],
    "fednova": ["algorithm=fednova", "client.lr=2.0", "client.momentum=0.5"],
    "fedadam": ["algorithm=fedadam", "client.lr=1.0", "server.lr=0.3"],
    "fedyogi": ["algorithm=fedyogi", "client.lr=1.0", "server.lr=0.3"],
    "fedadagrad": ["algorithm=fedadagrad", "client.lr=1.0", "server.lr=1.0"],
    "fedavg+krum": ["algorithm=fedavg", "client.lr=2.0", "server=[{name: krum, f: 2}, {name: sgd}]"],
    "fedavg+median+sign_flip": ["algorithm=fedavg", "client.lr=2.0", "server=[{name: median}, {name: sgd}]",
                                "attack={name: sign_flip, fraction: 0.2}"],
    "scaffold+nan": ["algorithm=scaffold", "client.lr=2.0", "attack={name: nan, fraction: 0.2}"],
    "fednova+nan": ["algorithm=fednova", "client.lr=2.0", "attack={name: nan, fraction: 0.2}"],
    "fedavg+dp": ["algorithm=fedavg", "client.lr=2.0", "cohort.min=10", "privacy.accountant=rdp",
                  "privacy.mechanism=central", "privacy.noise_multiplier=0.3"],
    "fedavg+topk_ef": ["algorithm=fedavg", "client.lr=2.0", "compression.name=topk", "compression.fraction=0.5",
                       "compression.error_feedback=true"],
    "fedavg+async": ["algorithm=fedavg", "client.lr=1.0", "mode=async", "asynchronous.concurrency=12",
                     "asynchronous.buffer_size=5", "asynchronous.staleness=polynomial"],
    "fedprox+async": ["algorithm=fedprox", "client.lr=1.0", "mode=async", "asynchronous.concurrency=12",
                      "asynchronous.buffer_size=4"],
}


def run_case(name: str, engine: str) -> list[dict]:
    """The recorded metrics of one case: `KEYS` of every round's row."""
    config = load_config(None, [*TASK, *CASES[name], f"engine.name={engine}"])
    history = skewed_experiment(config).run(quiet=True, save=False)
    return [{k: row.get(k) for k in KEYS} for row in history]


def _json_safe(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    out = {f"{name}/{engine}": [{k: _json_safe(v) for k, v in r.items()} for r in run_case(name, engine)]
           for name in CASES for engine in ENGINES}
    FIXTURE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(out)} cases to {FIXTURE}")
