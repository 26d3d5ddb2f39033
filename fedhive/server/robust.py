"""Robust aggregates and the per-client norm bound, for Byzantine-robust training.

Coordinate-wise median and trimmed mean (Yin et al. 2018), Krum and multi-Krum
(Blanchard et al. 2017), and norm bounding (Sun et al. 2019). Each aggregate first drops
non-finite rows (counted as `dropped`), then works on the `[K, P]` matrix with tensor
operations only: pairwise distances come from one `torch.cdist`. They treat clients
equally (sample counts do not weight them), as in the papers.
"""

from __future__ import annotations

from typing import Callable

import torch

from fedhive.server.aggregate import drop_nonfinite
from fedhive.server.chain import RoundContext, Transform


def _aggregate(reduce: Callable[[torch.Tensor], torch.Tensor]) -> Transform:
    """An aggregate `reduce([K', P]) -> [P]` over the finite rows; zeros when none is left."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        rows, _ = drop_nonfinite(updates, ctx.weights, ctx)
        if rows.shape[0] == 0:
            return updates.new_zeros(updates.shape[1]), state
        return reduce(rows), state

    return Transform(lambda params: (), update, "aggregate")


def median() -> Transform:
    """The coordinate-wise median (the mean of the two middle values for even K)."""

    def reduce(rows: torch.Tensor) -> torch.Tensor:
        s, k = rows.sort(dim=0).values, rows.shape[0]
        return (s[(k - 1) // 2] + s[k // 2]) / 2

    return _aggregate(reduce)


def trimmed_mean(beta: float = 0.1) -> Transform:
    """Coordinate-wise: drop the floor(beta K) largest and smallest values, average the rest."""
    if not 0 <= beta < 0.5:
        raise ValueError(f"trimmed_mean: beta must be in [0, 0.5), got {beta}")

    def reduce(rows: torch.Tensor) -> torch.Tensor:
        k = rows.shape[0]
        cut = int(beta * k)
        return rows.sort(dim=0).values[cut : k - cut].mean(dim=0)

    return _aggregate(reduce)


def krum_scores(rows: torch.Tensor, f: int) -> torch.Tensor:
    """Krum's score per row: the sum of squared distances to its K - f - 2 nearest other
    rows (at least one neighbour when the cohort is too small for f)."""
    k = rows.shape[0]
    d2 = torch.cdist(rows, rows, compute_mode="donot_use_mm_for_euclid_dist").square()
    neighbours = min(max(k - f - 2, 1), k - 1)
    # Row i's smallest distance is to itself (0); skip it.
    return d2.sort(dim=1).values[:, 1 : 1 + neighbours].sum(dim=1)


def multi_krum(f: int = 1, m: int | None = None) -> Transform:
    """The mean of the `m` rows with the lowest Krum scores (default m = K - f)."""

    def reduce(rows: torch.Tensor) -> torch.Tensor:
        k = rows.shape[0]
        if k == 1:
            return rows[0]
        keep = min(m if m is not None else k - f, k)
        best = krum_scores(rows, f).argsort()[: max(keep, 1)]
        return rows[best].mean(dim=0)

    return _aggregate(reduce)


def krum(f: int = 1) -> Transform:
    """Krum: the single update with the lowest score."""
    return multi_krum(f, m=1)


def norm_bound(max_norm: float) -> Transform:
    """Client stage: scale each update to L2 norm at most `max_norm`; counts `clipped`.
    A non-finite row stays non-finite, so the aggregate drops and counts it."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        norms = updates.norm(dim=1, keepdim=True)
        ctx.metrics["clipped"] = ctx.metrics.get("clipped", 0) + int((norms > max_norm).sum())
        return updates * (max_norm / norms).clamp(max=1.0), state

    return Transform(lambda params: (), update, "client")
