"""The reference workload (FedSGD, sum, Adam(lr=1)) as plain-PyTorch baselines and as
fedhive runs. Every variant sees the same cohorts, data and initial model, so every
variant must end at the same accuracy: no variant can be fast by skipping work."""

from __future__ import annotations

import copy
import time

import goals
import torch
import torch.nn.functional as F

from fedhive import rng
from fedhive.config import load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from fedhive.system.sampling import UniformCohort

SEED, BATCH = 0, 1000


def workload(clients: int | None) -> list[str]:
    """Config overrides: the reference cohort (20..29 of 1,000) or K of a million clients."""
    if clients is None:
        return []
    return ["data.clients=1000000", f"cohort.min={clients}", f"cohort.max={clients}"]


def plain_label(x: torch.Tensor) -> torch.Tensor:
    return (0.3 + 0.2 * x[..., 0] + 0.8 * x[..., 1] > 0).float()


def test_accuracy(model: torch.nn.Module, round: int) -> float:
    g = rng.generator(SEED, round, rng.GLOBAL, "test")
    x = torch.rand(1000, 2, generator=g) * 2 - 1
    with torch.no_grad():
        return ((model(x) > 0.5).float() == plain_label(x)).float().mean().item()


def _setup(clients: int | None):
    config = load_config(None, workload(clients))
    model = copy.deepcopy(build_model(config.model, 2, SEED).module)
    sampler = UniformCohort(config.cohort, config.data.clients, SEED)
    return model, torch.optim.Adam(model.parameters(), lr=1.0), sampler


TASK = ReferenceTask(load_config(None, []).data, SEED)


def _client_steps(r: int, c: int) -> tuple[torch.Generator, int]:
    """Client c's data generator in round r and its batch count (the task's keyed draw)."""
    return rng.generator(SEED, r, c, "data"), TASK.work(r, [c])[0]


def naive_round(model, opt, ids: list[int], r: int) -> None:
    """The original loop: a model copy per client, forward/backward per batch, the
    clients' `.grad` summed, one Adam step."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for c in ids:
        local = copy.deepcopy(model)
        g, steps = _client_steps(r, c)
        for _ in range(steps):
            x = torch.rand(BATCH, 2, generator=g) * 2 - 1
            F.binary_cross_entropy(local(x), plain_label(x)).backward()
        for t, p in zip(total, local.parameters()):
            t += p.grad
    for p, t in zip(model.parameters(), total):
        p.grad = t
    opt.step()


def handwritten_round(model, opt, ids: list[int], r: int) -> None:
    """The best plain PyTorch for the same math: every client's batches in one tensor,
    one forward/backward for the round (the sum of batch-mean losses), one Adam step."""
    draws = [(rng.generator(SEED, r, c, "data"), s) for c, s in zip(ids, TASK.work(r, ids))]
    x = torch.empty(sum(s for _, s in draws), BATCH, 2)
    at = 0
    for g, s in draws:
        torch.rand(s, BATCH, 2, generator=g, out=x[at : at + s])
        at += s
    x = x.mul_(2).sub_(1).view(-1, 2)
    opt.zero_grad()
    loss = F.binary_cross_entropy(model(x), plain_label(x), reduction="sum") / BATCH
    loss.backward()
    opt.step()


def run_plain(round_fn, rounds: int, warmup: int, clients: int | None) -> dict:
    model, opt, sampler = _setup(clients)
    timed = updates = 0.0
    for r in range(rounds):
        t0 = time.perf_counter()
        ids = sampler(r).tolist()
        round_fn(model, opt, ids, r)
        acc = test_accuracy(model, r)  # evaluated every round, as fedhive does
        if r >= warmup:
            timed += time.perf_counter() - t0
            updates += len(ids)
    return {"seconds": timed, "rounds": rounds - warmup, "updates": updates, "accuracy": acc}


def run_fedhive(engine: list[str], rounds: int, warmup: int, clients: int | None, pinned: bool = True) -> dict:
    """fedhive's round loop, at the thread count the bench set for this process (`pinned`)
    or, as a user runs it, at the count fedhive picks (`engine` may set `engine.threads`)."""
    threads = [f"engine.threads={torch.get_num_threads()}"] if pinned else []
    config = load_config(None, [f"rounds={rounds}", *workload(clients), *threads, *engine])
    exp = Experiment(config)
    timed = updates = 0.0
    for r in range(rounds):
        t0 = time.perf_counter()
        row = exp.step()
        if r >= warmup:
            timed += time.perf_counter() - t0
            updates += row["clients"]
    return {"seconds": timed, "rounds": rounds - warmup, "updates": updates, "accuracy": row["test_accuracy"]}


VARIANTS = {
    "naive loop": lambda *a: run_plain(naive_round, *a),
    "hand-written fused": lambda *a: run_plain(handwritten_round, *a),
    "fedhive sequential": lambda *a: run_fedhive(["engine.name=sequential"], *a),
    "fedhive vectorized": lambda *a: run_fedhive(["engine.name=vectorized"], *a),
    "fedhive vectorized+compile": lambda *a: run_fedhive(["engine.name=vectorized", "engine.compile=true"], *a),
    "fedhive default": lambda *a: run_fedhive([], *a, pinned=False),
    "fedhive default, CPU hog": lambda *a: _with_hog(run_fedhive, [], *a, pinned=False),
    "fedhive threads=2, CPU hog": lambda *a: _with_hog(run_fedhive, ["engine.threads=2"], *a, pinned=False),
    "seed loop": lambda *a: goals.seed_loop(torch.get_num_threads()),
}


def _with_hog(fn, *args, **kwargs):
    with goals.cpu_hog():
        return fn(*args, **kwargs)
