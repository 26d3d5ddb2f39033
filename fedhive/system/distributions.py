"""Per-client positive quantities (speed, bandwidth) drawn from the keyed generator."""

from __future__ import annotations

import math

import torch

from fedhive import rng
from fedhive.config import Distribution


def draw(dist: Distribution, seed: int, client: int, purpose: str) -> float:
    """One client's value of `dist`: a pure function of (seed, client, purpose)."""
    if dist.dist == "constant":
        return dist.value
    g = rng.generator(seed, rng.GLOBAL, client, purpose)
    n = float(torch.randn((), generator=g, dtype=torch.float64))
    u = float(torch.rand((), generator=g, dtype=torch.float64))
    d = dist.dist
    if d == "lognormal":
        return dist.value * math.exp(dist.sigma * n)
    if d == "normal":
        return max(dist.value + dist.sigma * n, dist.floor)
    if d == "pareto":
        # 1 - u lies in (0, 1], so the power never divides by zero.
        return min(dist.value * (1.0 - u) ** (-1.0 / dist.alpha), dist.cap)
    if d == "uniform":
        return dist.low + (dist.high - dist.low) * u
    if d == "exponential":
        return max(-dist.value * math.log1p(-u), dist.floor)
    if d == "halfnormal":
        return dist.value + dist.sigma * abs(n)
    raise ValueError(f"unknown distribution {d!r}")
