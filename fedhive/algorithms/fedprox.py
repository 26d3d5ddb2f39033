"""FedProx (Li et al. 2020): local SGD on `F_k(y) + mu/2 |y - x|^2`, i.e. FedAvg with the
proximal gradient `mu (y - x)` added at every local step."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.update import ClientUpdate, local_update


class FedProx(Hyperparameters):
    mu: float = Field(0.01, ge=0, description="proximal weight mu (Li et al. 2020, eq. 2); 0 is FedAvg")


def client_update(setup: Setup[FedProx]) -> ClientUpdate:
    mu = setup.hp.mu

    def proximal(local: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return mu * (local - params)

    return local_update(setup.trainer(), proximal)


ALGORITHM = replace(FEDAVG, name="fedprox", client_update=client_update, hyperparameters=FedProx)
