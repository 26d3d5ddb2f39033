"""SCAFFOLD's exact check (Karimireddy et al. 2020): on two quadratic clients with
full-batch local GD, SCAFFOLD's fixed point is the global minimizer; FedAvg's is not once
it takes more than one local step (client drift)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fedhive import FunctionalModel, local_sgd_update
from fedhive.algorithms import scaffold
from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.config import load_config
from fedhive.data.batches import Batches
from fedhive.models.losses import Loss

LR, ROUNDS = 0.1, 100


def _quadratic_model() -> FunctionalModel:
    """f_i(w) = mean_n 0.5 (x_n . w - y_n)^2: a quadratic with Hessian X_i^T X_i / n_i."""
    squared = Loss(lambda out, y: 0.5 * (out.squeeze(-1) - y) ** 2, lambda out, y: torch.zeros_like(y))
    return FunctionalModel(nn.Linear(2, 1, bias=False).double(), squared)


def _clients() -> list[Batches]:
    g = torch.Generator().manual_seed(0)
    out = []
    for scale, shift in ((torch.tensor([3.0, 0.5]), 2.0), (torch.tensor([0.4, 2.0]), -1.0)):
        x = (torch.randn(20, 2, generator=g, dtype=torch.float64) * scale)
        y = x @ torch.tensor([1.0, -1.0], dtype=torch.float64) + shift
        out.append(Batches(x[None], y[None], torch.ones(1, 20, dtype=torch.float64)))  # one full batch
    return out


def _global_minimizer(clients: list[Batches]) -> torch.Tensor:
    """argmin of f_1 + f_2: solve sum_i A_i w = sum_i X_i^T y_i / n_i."""
    a = sum(c.x[0].T @ c.x[0] / c.x.shape[1] for c in clients)
    b = sum(c.x[0].T @ c.y[0] / c.x.shape[1] for c in clients)
    return torch.linalg.solve(a, b)


def _fedavg(steps: int, clients: list[Batches]) -> torch.Tensor:
    update = local_sgd_update(_quadratic_model(), lr=LR, epochs=steps)
    w = torch.zeros(2, dtype=torch.float64)
    for r in range(ROUNDS):
        deltas = [update(w, c, {}, {}, torch.tensor(r)).update for c in clients]
        w = w - torch.stack(deltas).mean(0)  # server SGD, lr 1, on the mean pseudo-gradient
    return w


def _scaffold(steps: int, clients: list[Batches]) -> torch.Tensor:
    config = load_config(None, ["algorithm=scaffold", f"client.lr={LR}", f"client.epochs={steps}"])
    update = scaffold.client_update(Setup(Hyperparameters(), _quadratic_model(), config))
    w = torch.zeros(2, dtype=torch.float64)
    c = torch.zeros(2, dtype=torch.float64)
    c_i = [torch.zeros_like(w) for _ in clients]
    for r in range(ROUNDS):
        results = [update(w, data, {"c": ci}, {"c": c}, torch.tensor(r)) for data, ci in zip(clients, c_i)]
        w = w - torch.stack([res.update for res in results]).mean(0)
        c = c + torch.stack([res.outputs["delta_c"] for res in results]).mean(0)  # every client takes part
        c_i = [res.state["c"] for res in results]
    return w


@pytest.mark.parametrize("steps", [2, 10])
def test_scaffold_fixed_point_is_the_global_minimizer(steps):
    clients = _clients()
    assert torch.allclose(_scaffold(steps, clients), _global_minimizer(clients), rtol=0, atol=1e-6)


def test_fedavg_drifts_from_the_minimizer_once_it_takes_local_steps():
    clients = _clients()
    best = _global_minimizer(clients)
    assert torch.allclose(_fedavg(1, clients), best, rtol=0, atol=1e-6)  # one step: plain GD on f_1 + f_2
    for steps in (2, 10):
        assert (_fedavg(steps, clients) - best).norm() > 1e-2
