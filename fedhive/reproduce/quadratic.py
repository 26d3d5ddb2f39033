"""SCAFFOLD's exact check (Karimireddy et al. 2020): two quadratic clients, full-batch
local GD with K steps, every client every round. SCAFFOLD's fixed point is the global
minimizer; FedAvg's is not once K > 1 (client drift)."""

from __future__ import annotations

import torch
from torch import nn

from fedhive.data.batches import Batches
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import Loss

LR, ROUNDS = 0.1, 100


def quadratic_model() -> FunctionalModel:
    """f_i(w) = mean_n 0.5 (x_n . w - y_n)^2: a quadratic with Hessian X_i^T X_i / n_i."""
    squared = Loss(lambda out, y: 0.5 * (out.squeeze(-1) - y) ** 2, lambda out, y: torch.zeros_like(y))
    return FunctionalModel(nn.Linear(2, 1, bias=False).double(), squared)


def quadratic_clients() -> list[Batches]:
    """Two clients whose minimizers differ (other scales and shifts), one full batch each."""
    g = torch.Generator().manual_seed(0)
    out = []
    for scale, shift in ((torch.tensor([3.0, 0.5]), 2.0), (torch.tensor([0.4, 2.0]), -1.0)):
        x = (torch.randn(20, 2, generator=g, dtype=torch.float64) * scale)
        y = x @ torch.tensor([1.0, -1.0], dtype=torch.float64) + shift
        out.append(Batches(x[None], y[None], torch.ones(1, 20, dtype=torch.float64)))
    return out


def global_minimizer(clients: list[Batches]) -> torch.Tensor:
    """argmin of f_1 + f_2: solve sum_i A_i w = sum_i X_i^T y_i / n_i."""
    a = sum(c.x[0].T @ c.x[0] / c.x.shape[1] for c in clients)
    b = sum(c.x[0].T @ c.y[0] / c.x.shape[1] for c in clients)
    return torch.linalg.solve(a, b)


def fedavg_path(steps: int, clients: list[Batches], rounds: int = ROUNDS) -> list[torch.Tensor]:
    """FedAvg's global model after each round (server SGD, lr 1, on the mean pseudo-gradient)."""
    from fedhive.client.update import local_sgd_update

    update = local_sgd_update(quadratic_model(), lr=LR, epochs=steps)
    w, path = torch.zeros(2, dtype=torch.float64), []
    for r in range(rounds):
        w = w - torch.stack([update(w, c, {}, {}, torch.tensor(r)).update for c in clients]).mean(0)
        path.append(w)
    return path


def scaffold_path(steps: int, clients: list[Batches], rounds: int = ROUNDS) -> list[torch.Tensor]:
    """SCAFFOLD's global model after each round, with fedhive's SCAFFOLD client update."""
    from fedhive.algorithms import scaffold
    from fedhive.algorithms.base import Hyperparameters, Setup
    from fedhive.config import load_config

    config = load_config(None, ["algorithm=scaffold", f"client.lr={LR}", f"client.epochs={steps}"])
    update = scaffold.client_update(Setup(Hyperparameters(), quadratic_model(), config))
    w, c = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    c_i, path = [torch.zeros_like(w) for _ in clients], []
    for r in range(rounds):
        results = [update(w, data, {"c": ci}, {"c": c}, torch.tensor(r)) for data, ci in zip(clients, c_i)]
        w = w - torch.stack([res.update for res in results]).mean(0)
        c = c + torch.stack([res.outputs["delta_c"] for res in results]).mean(0)  # every client takes part
        c_i = [res.state["c"] for res in results]
        path.append(w)
    return path
