"""Shamir t-of-n secret sharing over the prime field GF(2^521 - 1), large enough for any
32-byte secret (SecAgg's self-mask seeds and key-agreement private keys)."""

from __future__ import annotations

import secrets

PRIME = 2**521 - 1  # a Mersenne prime


def share(secret: bytes, threshold: int, xs: list[int]) -> dict[int, int]:
    """Shares of `secret` at the nonzero points `xs`; any `threshold` of them recover it."""
    if not 1 <= threshold <= len(xs):
        raise ValueError(f"threshold {threshold} must be in 1..{len(xs)}")
    coeffs = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return {x: _poly(coeffs, x) for x in xs}


def reconstruct(shares: dict[int, int], threshold: int, length: int = 32) -> bytes:
    """The secret from at least `threshold` shares (Lagrange interpolation at 0)."""
    if len(shares) < threshold:
        raise ValueError(f"{len(shares)} shares cannot recover a {threshold}-of-n secret")
    points = list(shares.items())[:threshold]
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num, den = num * -xj % PRIME, den * (xi - xj) % PRIME
        total = (total + yi * num * pow(den, -1, PRIME)) % PRIME
    return total.to_bytes(length, "big")


def _poly(coeffs: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % PRIME
    return acc
