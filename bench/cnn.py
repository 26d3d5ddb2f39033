"""A small CNN workload: FedAvg with 32 clients a round, each taking 5 local SGD steps
on batches of 20 28x28 images, run by fedhive and by a hand-written PyTorch loop."""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from fedhive import rng
from fedhive.client.update import local_sgd_update
from fedhive.config import CohortConfig, load_config
from fedhive.data.batches import Batches
from fedhive.experiment import Experiment
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.system.sampling import UniformCohort

SEED, UNIVERSE, COHORT, STEPS, BATCH, CLASSES, CLIENT_LR = 0, 1000, 32, 5, 20, 10, 0.05


def small_cnn() -> nn.Module:
    """conv(1->8, 5) -> relu -> pool -> conv(8->16, 5) -> relu -> pool -> linear(256->10)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, CLASSES),
    )


class ImageTask:
    """Noisy copies of 10 fixed random 28x28 class templates; client c always holds the
    same STEPS x BATCH images, keyed by (seed, c)."""

    num_features, num_clients = 28 * 28, UNIVERSE

    def __init__(self):
        g = rng.generator(SEED, purpose="templates")
        self.templates = torch.randn(CLASSES, 1, 28, 28, generator=g)

    def _draw(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, CLASSES, (n,), generator=g)
        return self.templates[y] + 1.5 * torch.randn(n, 1, 28, 28, generator=g), y.float()

    def cohort_batches(self, round: int, client_ids) -> Batches:
        xs, ys = zip(*(self._draw(rng.generator(SEED, rng.GLOBAL, int(c), "data"), STEPS * BATCH) for c in client_ids))
        x = torch.stack(xs).view(len(xs), STEPS, BATCH, 1, 28, 28)
        y = torch.stack(ys).view(len(ys), STEPS, BATCH)
        return Batches(x, y, torch.ones_like(y))

    def test_set(self, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._draw(rng.generator(SEED, purpose="test"), 1000)


def _initial_module() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.key(SEED, purpose="model-init"))
        return small_cnn()


def _accuracy(module: nn.Module, task: ImageTask) -> float:
    x, y = task.test_set(0)
    with torch.no_grad():
        return (module(x).argmax(-1) == y.long()).float().mean().item()


def handwritten_round(model: nn.Module, local: nn.Module, task: ImageTask, ids: list[int]) -> None:
    """FedAvg by hand: per client, load the global weights, 5 SGD steps, keep the delta."""
    data = task.cohort_batches(0, ids)
    start = [p.detach().clone() for p in model.parameters()]
    delta = [torch.zeros_like(p) for p in start]
    for k in range(len(ids)):
        with torch.no_grad():
            for p, s in zip(local.parameters(), start):
                p.copy_(s)
        opt = torch.optim.SGD(local.parameters(), lr=CLIENT_LR)
        for s in range(STEPS):
            opt.zero_grad()
            F.cross_entropy(local(data.x[k, s]), data.y[k, s].long()).backward()
            opt.step()
        with torch.no_grad():
            for d, s, p in zip(delta, start, local.parameters()):
                d += s - p
    with torch.no_grad():  # server: params - 1.0 * mean delta
        for p, d in zip(model.parameters(), delta):
            p -= d / len(ids)


def run_handwritten(rounds: int, warmup: int, clients: int | None) -> dict:
    task, model = ImageTask(), _initial_module()
    local = copy.deepcopy(model)
    sampler = UniformCohort(CohortConfig(min=COHORT, max=COHORT), UNIVERSE, SEED)
    timed = 0.0
    for r in range(rounds):
        t0 = time.perf_counter()
        handwritten_round(model, local, task, sampler(r).tolist())
        acc = _accuracy(model, task)
        if r >= warmup:
            timed += time.perf_counter() - t0
    return {"seconds": timed, "rounds": rounds - warmup, "updates": COHORT * (rounds - warmup), "accuracy": acc}


def cnn_experiment(engine: list[str], rounds: int) -> Experiment:
    """A fedhive Experiment whose dataset and model are the CNN workload's (FedAvg:
    local SGD, weighted mean, server SGD with lr 1)."""
    config = load_config(None, [
        f"rounds={rounds}", "algorithm=fedavg", f"client.lr={CLIENT_LR}", "server.aggregate=weighted_mean",
        "server.optimizer=sgd", "server.lr=1.0", f"cohort.min={COHORT}", f"cohort.max={COHORT}", *engine,
    ])
    exp = Experiment(config)
    exp.dataset = ImageTask()
    exp.model = FunctionalModel(_initial_module(), LOSSES["cross_entropy"])
    exp.algorithm = exp.algorithm._replace(client_update=local_sgd_update(exp.model, CLIENT_LR))
    exp.params = exp.model.initial_params()
    exp.server_state = exp.algorithm.server.init(exp.params)
    return exp


def run_fedhive(engine: list[str], rounds: int, warmup: int, clients: int | None) -> dict:
    exp = cnn_experiment(engine, rounds)
    timed = 0.0
    for r in range(rounds):
        t0 = time.perf_counter()
        row = exp.step()
        if r >= warmup:
            timed += time.perf_counter() - t0
    return {"seconds": timed, "rounds": rounds - warmup, "updates": COHORT * (rounds - warmup),
            "accuracy": row["test_accuracy"]}


VARIANTS = {
    "cnn hand-written loop": run_handwritten,
    "cnn fedhive sequential": lambda *a: run_fedhive(["engine.name=sequential"], *a),
    "cnn fedhive vectorized": lambda *a: run_fedhive(["engine.name=vectorized"], *a),
}
