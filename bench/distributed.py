"""Distributed scenario: a compute-bound CNN workload with a large cohort, run as

  1 process, 1 thread   (the local engine: vectorized by default)
  1 process, N threads  (the same, with N torch intra-op threads)
  N processes, 1 thread (distributed engine, gloo, each rank a slice with the local engine)

on the same keyed cohorts and data. Reports seconds per round, the speedups, the
distributed run's per-round communication time (the collectives only) and the largest
relative difference of the final model from the one-process run.

    python bench/distributed.py                  # defaults: 2 processes, 4 timed rounds
    python bench/distributed.py --rounds 3 --cohort 32 --json out.json

Each configuration runs in fresh processes so thread settings do not leak between them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cnn():
    """A LeNet-style CNN for 28x28 single-channel images, 10 classes."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )


class ImageTask:
    """Random 28x28 images with random labels, keyed by (seed, round, client) like the
    reference task: client c draws 1..max_batches batches of `batch` images."""

    def __init__(self, clients: int, batch: int, max_batches: int, seed: int = 0):
        self.num_clients, self.batch, self.max_batches, self.seed = clients, batch, max_batches, seed

    def _steps(self, g) -> int:
        import torch

        return int(torch.randint(1, self.max_batches + 1, (), generator=g))

    def work(self, round: int, client_ids) -> list[int]:
        """Each client's batch count, without drawing its images (engines balance by it)."""
        from fedhive import rng

        return [self._steps(rng.generator(self.seed, round, int(c), "data")) for c in client_ids]

    def cohort_batches(self, round: int, client_ids):
        import torch

        from fedhive import rng
        from fedhive.data.batches import Batches

        gens = [rng.generator(self.seed, round, int(c), "data") for c in client_ids]
        steps = [self._steps(g) for g in gens]
        k, s_max = len(gens), max(steps, default=0)
        x = torch.zeros(k, s_max, self.batch, 1, 28, 28)
        y = torch.zeros(k, s_max, self.batch)
        mask = torch.zeros(k, s_max, self.batch)
        for i, (g, s) in enumerate(zip(gens, steps)):
            x[i, :s] = torch.randn(s, self.batch, 1, 28, 28, generator=g)
            y[i, :s] = torch.randint(0, 10, (s, self.batch), generator=g).float()
            mask[i, :s] = 1.0
        return Batches(x, y, mask)


def run_rounds(args: argparse.Namespace, distributed: bool) -> dict:
    """The round loop on this process (a rank when `distributed`); times every round."""
    import torch

    from fedhive import rng
    from fedhive.client.update import gradient_update
    from fedhive.config import EngineConfig
    from fedhive.engines.build import create_engine
    from fedhive.models.functional import FunctionalModel
    from fedhive.models.losses import LOSSES
    from fedhive.server.aggregate import sum_updates
    from fedhive.server.chain import RoundContext, chain
    from fedhive.server.optim import sgd

    torch.manual_seed(rng.key(0, purpose="model-init"))
    model = FunctionalModel(cnn(), LOSSES["cross_entropy"])
    task = ImageTask(args.clients, args.batch, args.max_batches)
    # SGD, not Adam: Adam turns rounding-level differences of tiny gradients into lr-sized
    # steps, which would hide how close the runs really are.
    server = chain(("sum", sum_updates()), ("sgd", sgd(1e-3)))
    local = EngineConfig(name=args.engine)
    engine = create_engine(local.model_copy(update={"name": "distributed", "local": args.engine}) if distributed else local)
    update, params = gradient_update(model), model.initial_params()
    state, times, comm = server.init(params), [], []
    for r in range(args.rounds + 1):  # round 0 warms up (allocations, first collectives)
        ids = torch.randperm(args.clients, generator=rng.generator(0, r, rng.GLOBAL, "cohort"))[: args.cohort]
        t0 = time.perf_counter()
        out = engine.run(update, params, task, r, ids.tolist(), None, server.linear)
        step, state = server.update(out.updates, state, RoundContext(round=r, params=params, weights=out.weights))
        params = params + step
        times.append(time.perf_counter() - t0)
        comm.append(getattr(engine, "comm_s", 0.0))
    return {"round_s": statistics.median(times[1:]), "comm_s": statistics.median(comm[1:]),
            "all_reduce_s": time_all_reduce(engine, params) if distributed else 0.0,
            "params": params.tolist(), "rank": getattr(engine, "rank", 0)}


def time_all_reduce(engine, params, reps: int = 10) -> float:
    """The bare cost of one `[P]` all_reduce, after a barrier: no rank is still computing."""
    import torch.distributed as dist

    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(reps):
        engine.group.all_reduce(0, params.clone())
    return (time.perf_counter() - t0) / reps


def launch(args: argparse.Namespace, processes: int, threads: int) -> dict:
    """Run this script as `processes` workers with `threads` threads each; rank 0's result."""
    from fedhive.launch import free_port, supervise, worker_env

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, *sys.argv[1:], "--worker", str(out)]
        if processes == 1:
            subprocess.run(cmd, env=env, check=True)
        else:
            port = free_port()
            procs = [subprocess.Popen(cmd + ["--distributed"], env=worker_env(r, processes, port, env))
                     for r in range(processes)]
            if supervise(procs) != 0:
                raise SystemExit("distributed benchmark failed")
        return json.loads(out.read_text())


def report(args: argparse.Namespace) -> dict:
    import torch

    n = args.processes
    one = launch(args, 1, 1)
    threads = launch(args, 1, n)
    dist = launch(args, n, 1)
    ref = torch.tensor(one.pop("params"))
    drift = max(float((torch.tensor(r.pop("params")) - ref).norm() / ref.norm()) for r in (threads, dist))
    result = {
        "workload": f"CNN (LeNet-style), cohort {args.cohort}, 1..{args.max_batches} batches of {args.batch} "
                    f"28x28 images per client, FedSGD, {args.engine} engine, {args.rounds} timed rounds",
        "1 process, 1 thread s/round": one["round_s"],
        f"1 process, {n} threads s/round": threads["round_s"],
        f"{n} processes s/round": dist["round_s"],
        "speedup vs 1 thread": one["round_s"] / dist["round_s"],
        f"speedup vs {n} threads": threads["round_s"] / dist["round_s"],
        "communication s/round (incl. waiting)": dist["comm_s"],
        "bare [P] all_reduce s": dist["all_reduce_s"],
        "final model vs 1 process (relative L2)": drift,
    }
    for k, v in result.items():
        print(f"{k:40s} {v:.4g}" if isinstance(v, float) else f"{k:40s} {v}")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--cohort", type=int, default=48)
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-batches", type=int, default=4)
    p.add_argument("--engine", choices=["vectorized", "sequential"], default="vectorized",
                   help="the engine of the one-process runs and of each rank")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        result = run_rounds(args, args.distributed)
        if result["rank"] == 0:
            Path(args.worker).write_text(json.dumps(result))
        return
    result = report(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
