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


def keys(seed: int, round: int, clients: torch.Tensor, purpose: str = "") -> torch.Tensor:
    """`key(seed, round, c, purpose)` for every c of an int64 tensor, in one tensor pass:
    a cohort's keys without a Python call per client."""
    h = _splitmix64(zlib.crc32(purpose.encode()))
    for part in (seed, round):
        h = _splitmix64(h ^ (part & _MASK64))
    return _shift_right(_splitmix64_tensor(clients.to(torch.int64) ^ _signed(h)), 1)


def generator(seed: int, round: int = GLOBAL, client: int = GLOBAL, purpose: str = "") -> torch.Generator:
    """A fresh CPU generator seeded from the key of (seed, round, client, purpose)."""
    return torch.Generator().manual_seed(key(seed, round, client, purpose))


def generators(seed: int, round: int, clients: torch.Tensor, purpose: str = "") -> list[torch.Generator]:
    """`generator(seed, round, c, purpose)` for every c of an int64 tensor: the keys come
    from one tensor pass (`keys`), leaving only the generators' seeding per client."""
    return [torch.Generator().manual_seed(k) for k in keys(seed, round, clients, purpose).tolist()]


def numpy_generator(seed: int, round: int = GLOBAL, client: int = GLOBAL, purpose: str = "") -> np.random.Generator:
    """A numpy generator from the same key, for draws torch offers no generator for
    (Dirichlet, log-normal, Pareto)."""
    return np.random.default_rng(key(seed, round, client, purpose))


def client_key(round: int, client: int) -> int:
    """The key an engine hands to a client update for (round, client). Client-side draws
    (compression, local DP noise) mix it with the run seed: `generator(seed, client_key, ...)`."""
    return key(0, round, client, "client")


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN, _MIX1, _MIX2 = (_signed(c) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _shift_right(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 tensors (`>>` is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _splitmix64_tensor(x: torch.Tensor) -> torch.Tensor:
    """`_splitmix64` on int64 tensors; int64 products wrap modulo 2^64 like the uint64 ones."""
    x = x + _GOLDEN
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


def keyed_uniform(key: torch.Tensor, n: int) -> torch.Tensor:
    """n draws from U[0, 1) (float64) that are a pure function of an int64 `key` tensor.

    Built from tensor arithmetic alone (a counter-based generator), so a client update may
    draw inside `vmap` with a batched key and get exactly what one client alone would get."""
    counters = torch.arange(n, dtype=torch.int64, device=key.device)
    bits = _splitmix64_tensor(_splitmix64_tensor(key) + counters)
    return _shift_right(bits, 11).double() * 2.0**-53


def keyed_normal(key: torch.Tensor, n: int) -> torch.Tensor:
    """n draws from N(0, 1) (float64) from an int64 `key` tensor (Box-Muller; vmap-safe)."""
    u1 = keyed_uniform(key, n)
    u2 = keyed_uniform(_splitmix64_tensor(key ^ 0x5BD1E995), n)
    return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * torch.pi * u2)


def salted(client: torch.Tensor, seed: int, purpose: str) -> torch.Tensor:
    """An engine's client key tensor mixed with the run seed and a purpose, for
    keyed_uniform / keyed_normal."""
    return client ^ key(seed, GLOBAL, GLOBAL, purpose)
