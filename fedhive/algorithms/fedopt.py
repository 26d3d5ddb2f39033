"""FedOpt (Reddi et al. 2021): FedAvg clients and an adaptive server optimizer (Adam,
Yogi, Adagrad) on the weighted mean of the deltas, tau = 1e-3; one builder, three names."""

from __future__ import annotations

from dataclasses import replace

from fedhive.algorithms.base import Algorithm
from fedhive.algorithms.fedavg import FEDAVG, LOCAL


def fedopt(name: str, optimizer: str, **server) -> Algorithm:
    """FedAvg with `optimizer` on the server; `server` overrides its defaults."""
    defaults = {"aggregate": "weighted_mean", "optimizer": optimizer, "lr": 0.03, "eps": 1e-3, **server}
    return replace(FEDAVG, name=name, defaults={"client": LOCAL, "server": defaults})


ALGORITHMS = (
    fedopt("fedadam", "adam", b1=0.9, b2=0.99, bias_correction=False),
    fedopt("fedyogi", "yogi", b1=0.9, b2=0.99, bias_correction=False),
    fedopt("fedadagrad", "adagrad", b1=0.0),
)
