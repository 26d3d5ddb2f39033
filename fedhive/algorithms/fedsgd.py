"""FedSGD (McMahan et al. 2017): each client sends the sum of its batch gradients at the
global model, with no local step; the reference experiment (summed, one Adam step)."""

from __future__ import annotations

from fedhive.algorithms.base import Algorithm, Setup
from fedhive.client.update import ClientUpdate, gradient_update


def client_update(setup: Setup) -> ClientUpdate:
    return gradient_update(setup.model)


ALGORITHM = Algorithm(
    "fedsgd", client_update, local_training=False,
    defaults={"server": {"aggregate": "sum", "optimizer": "adam", "lr": 1.0}},
)
