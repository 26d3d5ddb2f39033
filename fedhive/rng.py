"""Keyed random generators: every draw is seeded from (seed, round, client, purpose).

A key is a pure function of its parts, so what a client draws never depends on which
engine runs it, how many clients share a chunk, how many processes there are, or
whether the run was resumed: nothing about random streams needs checkpointing.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

_MASK64 = (1 << 64) - 1
GLOBAL = -1  # the `round` or `client` part of a key for draws not tied to one


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def key(seed: int, round: int = GLOBAL, client: int = GLOBAL, purpose: str = "") -> int:
    """A 63-bit key for one (seed, round, client, purpose); distinct parts give unrelated keys."""
    h = _splitmix64(zlib.crc32(purpose.encode()))
    for part in (seed, round, client):
        h = _splitmix64(h ^ (part & _MASK64))
    return h >> 1  # torch seeds must fit in a signed 64-bit integer


def generator(seed: int, round: int = GLOBAL, client: int = GLOBAL, purpose: str = "") -> torch.Generator:
    """A fresh CPU generator seeded from the key of (seed, round, client, purpose)."""
    return torch.Generator().manual_seed(key(seed, round, client, purpose))


def numpy_generator(seed: int, round: int = GLOBAL, client: int = GLOBAL, purpose: str = "") -> np.random.Generator:
    """A numpy generator from the same key, for draws torch offers no generator for
    (Dirichlet, log-normal, Pareto)."""
    return np.random.default_rng(key(seed, round, client, purpose))
