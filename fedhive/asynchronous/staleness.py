"""Staleness and example weights of buffered asynchronous updates (FedBuff, FedAsync).

FedBuff (Nguyen et al. 2022) scales an update that is s server versions old by
1/sqrt(1+s) (`polynomial`, a = 0.5); FedAsync (Xie et al. 2019) defines the
`polynomial` (1+s)^-a and `hinge` (1 if s <= b else 1/(a(s-b)+1)) functions.
"""

from __future__ import annotations

import torch

from fedhive.config import AsyncConfig


def staleness_weight(config: AsyncConfig, staleness: torch.Tensor) -> torch.Tensor:
    """The weight of each update given its staleness s = version at arrival - at start."""
    s = staleness.to(torch.float64)
    if config.staleness == "constant":
        return torch.ones_like(s)
    if config.staleness == "polynomial":
        return (1.0 + s).pow(-config.a)
    return torch.where(s <= config.b, torch.ones_like(s), 1.0 / (config.a * (s - config.b) + 1.0))


def example_weight(config: AsyncConfig, samples: torch.Tensor) -> torch.Tensor:
    """The aggregate's weight for each update: 1, its sample count, or its square root."""
    if config.example_weight == "equal":
        return torch.ones_like(samples)
    if config.example_weight == "sqrt":
        return samples.sqrt()
    return samples
