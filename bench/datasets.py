"""LEAF FEMNIST and Shakespeare at their published sizes, generated, then loaded and trained:
load time, peak RSS and time per round (the real files are not needed to measure the reader).

    python bench/datasets.py generate DIR [SCALE]  # write DIR/femnist/data, DIR/shakespeare/data
    python bench/datasets.py load femnist DIR      # one line of JSON: seconds, peak RSS
    python bench/datasets.py run femnist DIR 3 [key=value ...]   # rounds of configs/femnist_cnn.yaml
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LETTERS = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"
# LEAF's published totals (Caldas et al. 2018, table 1): users and samples.
SIZES = {"femnist": (3550, 805_263), "shakespeare": (1129, 4_226_158)}
SIGMA = {"femnist": 0.4, "shakespeare": 1.3}  # FEMNIST sizes are mildly, Shakespeare's very skewed
FILES = 36  # LEAF writes all_data_0..35
CONFIGS = {"femnist": "femnist_cnn", "shakespeare": "shakespeare_lstm"}


def user_sizes(name: str, g: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    users, total = (max(2, round(n * scale)) for n in SIZES[name])
    raw = g.lognormal(0.0, SIGMA[name], users)
    sizes = np.maximum(np.floor(raw / raw.sum() * total).astype(np.int64), 2)
    sizes[np.argmax(sizes)] += total - sizes.sum()
    return sizes


def femnist_rows(g: np.random.Generator, count: int) -> list[str]:
    """Row texts as LEAF writes them: 1.0 for background, a float64 repr for ink (about 20%)."""
    rows = []
    for _ in range(count):
        v = np.where(g.random(784) < 0.8, 255, g.integers(0, 255, 784)) / 255.0
        rows.append("[" + ", ".join(repr(float(a)) for a in v) + "]")
    return rows


def shakespeare_rows(g: np.random.Generator, count: int) -> list[tuple[str, str]]:
    pick = lambda n: "".join(g.choice(list(LETTERS), n))  # noqa: E731
    return [(json.dumps(pick(80)), json.dumps(pick(1))) for _ in range(count)]


def write_split(folder: Path, name: str, users: list[str], sizes: np.ndarray, pool: list, g) -> None:
    """LEAF files of ~len(users)/FILES users each, written as text (not via json.dump)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f, chunk in enumerate(np.array_split(np.arange(len(users)), FILES)):
        parts = []
        for u in chunk:
            idx = g.integers(0, len(pool), sizes[u])
            if name == "femnist":
                x = ", ".join(pool[i] for i in idx)
                y = ", ".join(str(v) for v in g.integers(0, 62, sizes[u]))
            else:
                x = ", ".join(pool[i][0] for i in idx)
                y = ", ".join(pool[i][1] for i in idx)
            parts.append(f'"{users[u]}": {{"x": [{x}], "y": [{y}]}}')
        head = json.dumps({"users": [users[u] for u in chunk], "num_samples": sizes[chunk].tolist()})[:-1]
        (folder / f"all_data_{f}_niid_0_keep_0_{folder.name}_9.json").write_text(
            head + ', "user_data": {' + ", ".join(parts) + "}}")


def generate(root: Path, scale: float = 1.0) -> None:
    """Both datasets; `scale` < 1 keeps that fraction of the users and samples (same shape)."""
    g = np.random.default_rng(0)
    for name in SIZES:
        sizes = user_sizes(name, g, scale)
        test = np.maximum(sizes // 10, 1)  # LEAF's sample split: 90% train, 10% test
        users = [f"f{i:04d}_{i % 100:02d}" if name == "femnist" else f"ROLE_{i}" for i in range(len(sizes))]
        pool = femnist_rows(g, 512) if name == "femnist" else shakespeare_rows(g, 4096)
        data = root / name / "data"
        write_split(data / "train", name, users, sizes - test, pool, g)
        write_split(data / "test", name, users, test, pool, g)
        print(name, len(users), "users", int(sizes.sum()), "samples", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(name: str, root: Path) -> None:
    from fedhive.config import DataConfig
    from fedhive.data import leaf
    from fedhive.data.build import build_dataset

    parsed = (root / name / "data" / leaf.CACHE).is_file()  # a load after the first reads the parsed copy
    start = time.perf_counter()
    ds = build_dataset(DataConfig(name=name, root=str(root), batch_size=20), seed=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"dataset": name, "clients": ds.num_clients, "train": len(ds.train.y),
                      "test": len(ds.client_test.y), "from_parsed_copy": parsed, "load_s": round(seconds, 1),
                      "peak_rss_mb": round(peak_rss_mb())}))


def run(name: str, root: Path, rounds: int, overrides: list[str]) -> None:
    from fedhive.config import load_config
    from fedhive.experiment import Experiment

    config = load_config(REPO / "configs" / f"{CONFIGS[name]}.yaml",
                         [f"data.root={root}", f"rounds={rounds}", f"eval_every={rounds}", *overrides])
    start, cpu = time.perf_counter(), time.process_time()
    exp = Experiment(config)
    setup, setup_cpu = time.perf_counter() - start, time.process_time() - cpu
    evaluations: list[tuple[float, float]] = []  # (wall, CPU) seconds of each evaluation
    evaluate = exp.evaluate

    def timed(round: int) -> dict:
        t, c = time.perf_counter(), time.process_time()
        out = evaluate(round)
        evaluations.append((time.perf_counter() - t, time.process_time() - c))
        return out

    exp.evaluate = timed  # type: ignore[method-assign]
    history = exp.run(save=False)
    print(json.dumps({"config": CONFIGS[name], "overrides": overrides, "setup_s": round(setup, 1),
                      "setup_cpu_s": round(setup_cpu, 1), "samples": [h["samples"] for h in history],
                      "round_s": [round(h["round_s"], 1) for h in history],
                      "eval_s": [round(w, 1) for w, _ in evaluations],
                      "eval_cpu_s": [round(c, 1) for _, c in evaluations],
                      "process_cpu_s": round(time.process_time() - cpu, 1),
                      "test_accuracy": history[-1]["test_accuracy"], "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "generate":
        generate(Path(args[0]), float(args[1]) if len(args) > 1 else 1.0)
    elif command == "load":
        load(args[0], Path(args[1]))
    else:
        run(args[0], Path(args[1]), int(args[2]), args[3:])
