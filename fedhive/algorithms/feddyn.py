"""FedDyn (Acar et al. 2021, Algorithm 1): each client k minimizes
`L_k(y) - <g_k, y> + alpha/2 |y - x|^2`, g_k its gradient at its previous local optimum
(kept as client state); the server keeps h and subtracts h / alpha from the average."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG, LOCAL
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs
from fedhive.data.batches import Batches
from fedhive.server.chain import RoundContext, Transform, finite_rows


class FedDyn(Hyperparameters):
    alpha: float = Field(0.01, gt=0, description="alpha, the weight of the dynamic regularizer")


def client_update(setup: Setup[FedDyn]) -> ClientUpdate:
    """Local steps add the linear correction `alpha (y - x) - g_k`; afterwards
    `g_k <- g_k - alpha (y - x)` (the first-order condition at y)."""
    alpha, train = setup.hp.alpha, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        g = state["g"]
        run = train(params, data, lambda local, x: alpha * (local - x) - g, inputs)
        delta = params - run.local
        return ClientResult(delta, data.sizes, {"g": g + alpha * delta}, {}, {"loss": run.loss})

    return update


def server(setup: Setup[FedDyn], configured: Transform) -> Transform:
    """`h <- h - alpha/m sum_k (y_k - x)` over the cohort's finite updates (m = all
    clients), then the configured step (the mean of the y_k by default) minus h / alpha."""
    alpha, m = setup.hp.alpha, setup.config.data.clients

    def update(updates: torch.Tensor, state: dict, ctx: RoundContext):
        h = state["h"] + alpha / m * updates[finite_rows(updates)].sum(dim=0)
        step, inner = configured.update(updates, state["server"], ctx)
        return step - h / alpha, {"server": inner, "h": h}

    return Transform(lambda params: {"server": configured.init(params), "h": torch.zeros_like(params)},
                     update, configured.stage)


ALGORITHM = replace(
    FEDAVG, name="feddyn", client_update=client_update, hyperparameters=FedDyn, server=server,
    client_state=lambda setup, params: {"g": torch.zeros_like(params)},
    defaults={"client": LOCAL, "server": {"aggregate": "mean", "optimizer": "sgd", "lr": 1.0}},
)
