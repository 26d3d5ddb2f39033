"""Per-client positive quantities (speed, bandwidth) drawn from the keyed generator."""

from __future__ import annotations

import math

from fedhive import rng
from fedhive.config import Distribution


def keyed_uniform(seed: int, round: int, client: int, purpose: str) -> float:
    """A uniform draw in (0, 1) that is a pure function of its key. Cheaper than a seeded
    generator, which matters when a run draws for hundreds of thousands of clients."""
    return (rng.key(seed, round, client, purpose) + 0.5) / 2.0**63


def keyed_normal(seed: int, round: int, client: int, purpose: str) -> float:
    """A standard normal draw: Box-Muller over two 31/32-bit uniforms cut from one key."""
    k = rng.key(seed, round, client, purpose)
    u1 = ((k >> 32) + 0.5) / 2.0**31
    u2 = ((k & 0xFFFFFFFF) + 0.5) / 2.0**32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def draw(dist: Distribution, seed: int, client: int, purpose: str) -> float:
    """One client's value of `dist`: a pure function of (seed, client, purpose)."""
    value = dist.value
    if value is None:  # SystemConfig sets each quantity's default value
        raise ValueError(f"draw {purpose}: the distribution has no value")
    if dist.dist == "constant":
        return value
    n = lambda: keyed_normal(seed, rng.GLOBAL, client, purpose)  # noqa: E731
    u = lambda: keyed_uniform(seed, rng.GLOBAL, client, purpose + "/u")  # noqa: E731
    d = dist.dist
    if d == "lognormal":
        return value * math.exp(dist.sigma * n())
    if d == "normal":
        return max(value + dist.sigma * n(), dist.floor)
    if d == "pareto":  # u lies in (0, 1), so the power never divides by zero
        return min(value * u() ** (-1.0 / dist.alpha), dist.cap)
    if d == "uniform":
        return dist.low + (dist.high - dist.low) * u()
    if d == "exponential":
        return max(-value * math.log(u()), dist.floor)
    if d == "halfnormal":
        return value + dist.sigma * abs(n())
    raise ValueError(f"unknown distribution {d!r}")
