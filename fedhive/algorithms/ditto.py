"""Ditto (Li et al. 2021, eq. 2 and Algorithm 1): FedAvg trains the global model w, and
each client also keeps a personal model v_k (client state) trained on
`F_k(v) + lambda/2 |v - w|^2`: the same local steps with the gradient `lambda (v - w^t)`
added; evaluation scores the personal models."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs
from fedhive.data.batches import Batches


class Ditto(Hyperparameters):
    lam: float = Field(0.1, ge=0, description="lambda, the pull of each personal model toward the global one")


def client_update(setup: Setup[Ditto]) -> ClientUpdate:
    """The FedAvg update of w from w^t, and `v_k` trained from its stored value with
    `lambda (v - w^t)` added to every gradient (0 is local training alone)."""
    lam, train = setup.hp.lam, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        run = train(params, data, inputs=inputs)
        personal = train(state["v"], data, lambda v, _: lam * (v - params), inputs)
        return ClientResult(params - run.local, data.sizes, {"v": personal.local}, {},
                            {"loss": run.loss})

    return update


ALGORITHM = replace(
    FEDAVG, name="ditto", client_update=client_update, hyperparameters=Ditto,
    client_state=lambda setup, params: {"v": params.clone()},  # v_k^0 = w^0
    personal=lambda setup: lambda params, server_state, state: state["v"],
)
