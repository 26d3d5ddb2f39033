"""Asynchronous FedBuff throughput: fedhive's event loop (lazy, stacked vmap training)
against a plain one-client-at-a-time event loop doing the same math, and against
fedhive's synchronous run on the same workload.

    python bench/async_bench.py                  # 100,000 client updates (the README figure)
    python bench/async_bench.py --updates 20000  # a quicker look
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedhive.config import load_config  # noqa: E402
from fedhive.data.synthetic import label  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402
from fedhive.models.reference import reference_model  # noqa: E402

CONCURRENCY, BUFFER, BATCH, STEPS, LR = 1000, 100, 32, 2, 0.1


def workload(buffer: int) -> list[str]:
    """The config overrides shared by every fedhive variant: `buffer` clients a server step."""
    return [
        "data.clients=100000", f"data.batch_size={BATCH}", f"data.batches.min={STEPS}", f"data.batches.max={STEPS}",
        f"cohort.min={buffer}", f"cohort.max={buffer}", "algorithm=fedavg", f"client.lr={LR}",
        "server.aggregate=weighted_mean", "server.optimizer=sgd", "server.lr=1.0", "data.test_size=2000",
    ]


def fedbuff(concurrency: int, buffer: int) -> list[str]:
    """FedBuff: `concurrency` clients in flight, a server step every `buffer` arrivals."""
    return ["mode=async", "system.speed.dist=lognormal", "system.speed.sigma=0.5",
            f"asynchronous.concurrency={concurrency}", f"asynchronous.buffer_size={buffer}",
            "asynchronous.staleness=polynomial", "asynchronous.a=0.5"]


def fedhive_run(overrides: list[str], steps: int, buffer: int = BUFFER) -> tuple[float, float]:
    """(seconds, final test accuracy) of a fedhive run of `steps` server steps."""
    exp = Experiment(load_config(None, workload(buffer) + overrides + [f"rounds={steps}", f"eval_every={steps}"]))
    t0 = time.perf_counter()
    exp.run(save=False)
    return time.perf_counter() - t0, exp.history[-1]["test_accuracy"]


def plain_event_loop(updates: int, seed: int = 0, concurrency: int = CONCURRENCY,
                     buffer_size: int = BUFFER) -> tuple[float, float]:
    """FedBuff as a straightforward simulator writes it: a heap of arrivals; each client
    copies the global model when it starts, trains it with autograd batch by batch, and
    its update waits in the heap; every `buffer_size` arrivals the server averages them,
    weighted by samples and 1/sqrt(1+staleness), and steps."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = reference_model()
    global_params = [p.detach().clone() for p in model.parameters()]
    speed = {}
    heap, busy, buffer = [], set(), []
    version, now, done, task = 0, 0.0, 0, 0

    def start(t: float) -> None:
        nonlocal task
        c = int(torch.randint(0, 100_000, (), generator=g))
        while c in busy:
            c = int(torch.randint(0, 100_000, (), generator=g))
        busy.add(c)
        local = reference_model()
        with torch.no_grad():
            for p, q in zip(local.parameters(), global_params):
                p.copy_(q)
        for _ in range(STEPS):
            x = torch.rand(BATCH, 2, generator=g) * 2 - 1
            loss = torch.nn.functional.binary_cross_entropy(local(x), label(x))
            grads = torch.autograd.grad(loss, list(local.parameters()))
            with torch.no_grad():
                for p, d in zip(local.parameters(), grads):
                    p -= LR * d
        delta = [q - p.detach() for p, q in zip(local.parameters(), global_params)]
        s = speed.setdefault(c, 1e-3 * math.exp(0.5 * float(torch.randn((), generator=g))))
        heapq.heappush(heap, (t + s * STEPS * BATCH, task, c, version, delta))
        task += 1

    t0 = time.perf_counter()
    for _ in range(concurrency):
        start(0.0)
    while done < updates:
        now, _, c, v, delta = heapq.heappop(heap)
        busy.discard(c)
        buffer.append((version - v, delta))
        done += 1
        if len(buffer) == buffer_size:
            w = [1 / math.sqrt(1 + s) for s, _ in buffer]  # equal sample counts: weights cancel
            for i, p in enumerate(global_params):
                p -= sum(wk * d[i] for wk, (_, d) in zip(w, buffer)) / len(buffer)
            buffer, version = [], version + 1
        start(now)
    seconds = time.perf_counter() - t0
    x = torch.rand(2000, 2, generator=g) * 2 - 1
    with torch.no_grad():
        for p, q in zip(model.parameters(), global_params):
            p.copy_(q)
        acc = float(((model(x) > 0.5).float() == label(x)).float().mean())
    return seconds, acc


def scaled(result: tuple[float, float], updates: int, measured: int) -> tuple[float, float]:
    """Seconds for `updates` at the rate measured over `measured` updates."""
    seconds, acc = result
    return seconds * updates / min(measured, updates), acc


# The workload of the speed goals in bench/run.py: ~100 clients in flight, a server step
# every 10 arrivals, 5,000 client updates (500 server steps).
GOAL_CONCURRENCY, GOAL_BUFFER = 100, 10


def _goal_fedhive(steps: int, warmup: int) -> tuple[float, float]:
    fedbuff_goal = fedbuff(GOAL_CONCURRENCY, GOAL_BUFFER)
    fedhive_run(fedbuff_goal, warmup, GOAL_BUFFER)  # torch.func's first vmap imports and traces once
    return fedhive_run(fedbuff_goal, steps, GOAL_BUFFER)


def _goal_plain(steps: int, warmup: int) -> tuple[float, float]:
    plain_event_loop(warmup * GOAL_BUFFER, 1, GOAL_CONCURRENCY, GOAL_BUFFER)
    return plain_event_loop(steps * GOAL_BUFFER, 0, GOAL_CONCURRENCY, GOAL_BUFFER)


def _measured(run, steps: int, warmup: int) -> dict:
    """One goal-workload variant as bench/run.py records it: `steps` server steps timed."""
    seconds, accuracy = run(steps, warmup)
    return {"seconds": seconds, "rounds": steps, "updates": steps * GOAL_BUFFER, "accuracy": accuracy}


VARIANTS = {
    "fedhive async FedBuff": lambda steps, warmup, _: _measured(_goal_fedhive, steps, warmup),
    "plain event loop": lambda steps, warmup, _: _measured(_goal_plain, steps, warmup),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=100_000, help="client updates per variant")
    ap.add_argument("--sync-updates", type=int, default=10_000,
                    help="client updates for the (slow) sync run on the configured engine; its rate is reported")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = args.updates // BUFFER
    fedhive_run(fedbuff(CONCURRENCY, BUFFER), 2)  # warm-up: torch.func's first vmap imports and traces once
    rows = [
        ("fedhive async FedBuff (stacked vmap)", *fedhive_run(fedbuff(CONCURRENCY, BUFFER), steps)),
        ("plain one-client-at-a-time event loop", *plain_event_loop(args.updates)),
        ("fedhive sync, same workload (engine from config)",
         *scaled(fedhive_run([], min(args.sync_updates, args.updates) // BUFFER), args.updates, args.sync_updates)),
        ("fedhive sync-equivalent (async C = buffer = K, stacked)",
         *fedhive_run(["mode=async", f"asynchronous.concurrency={BUFFER}", f"asynchronous.buffer_size={BUFFER}"],
                      steps)),
    ]
    base = rows[0][1]
    print(f"{args.updates} client updates, concurrency {CONCURRENCY}, buffer {BUFFER}, "
          f"{STEPS} local steps of {BATCH} samples, torch threads {args.threads}")
    print("| variant | seconds | client updates/s | fedhive async is ×faster | final accuracy |")
    print("|---|---:|---:|---:|---:|")
    for name, sec, acc in rows:
        print(f"| {name} | {sec:.2f} | {args.updates / sec:,.0f} | {sec / base:.2f} | {acc:.3f} |")


if __name__ == "__main__":
    main()
