"""Staleness and example weights of buffered asynchronous updates (FedBuff, FedAsync, FLSim).

FedBuff (Nguyen et al. 2022) scales an update that is s server versions old by
1/sqrt(1+s) (`polynomial`, a = 0.5); FedAsync (Xie et al. 2019) defines the
`polynomial` (1+s)^-a and `hinge` (1 if s <= b else 1/(a(s-b)+1)) functions. FLSim's
`threshold` is 1 up to the cutoff b and a flat `value_after_cutoff` beyond it, and FLSim
normalizes both weights: staleness by its value at `avg_staleness`, examples by their
value at `avg_examples` (FLSim's `async_staleness_weights.py`, `async_example_weights.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fedhive.config import AsyncConfig

EXAMPLE_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "equal": torch.ones_like,
    "linear": lambda n: n,
    "sqrt": torch.sqrt,
    "log10": lambda n: torch.log10(1 + n),  # FLSim's Log10ExampleWeight
}


def _raw_staleness(config: AsyncConfig, s: torch.Tensor) -> torch.Tensor:
    if config.staleness == "constant":
        return torch.ones_like(s)
    if config.staleness == "polynomial":
        return (1.0 + s).pow(-config.a)
    if config.staleness == "hinge":
        after = 1.0 / (config.a * (s - config.b) + 1.0)
    else:
        assert config.value_after_cutoff is not None  # AsyncConfig requires it with staleness threshold
        after = torch.full_like(s, config.value_after_cutoff)
    return torch.where(s <= config.b, torch.ones_like(s), after)


def staleness_weight(config: AsyncConfig, staleness: torch.Tensor) -> torch.Tensor:
    """The weight of each update given its staleness s = version at arrival - at start,
    divided by the weight at `avg_staleness` (0 by default: no normalization)."""
    s = staleness.to(torch.float64)
    return _raw_staleness(config, s) / _raw_staleness(config, s.new_tensor(float(config.avg_staleness)))


def example_weight(config: AsyncConfig, samples: torch.Tensor) -> torch.Tensor:
    """The aggregate's weight for each update: 1, its sample count n, sqrt(n) or
    log10(1 + n), divided by that weight at `avg_examples` (1 by default, as FLSim)."""
    raw = EXAMPLE_WEIGHTS[config.example_weight]
    return raw(samples) / raw(samples.new_tensor(float(config.avg_examples)))
