"""Robust aggregates and the per-client norm bound, for Byzantine-robust training.

Coordinate-wise median and trimmed mean (Yin et al. 2018), Krum and multi-Krum
(Blanchard et al. 2017), Bulyan (El Mhamdi et al. 2018) and norm bounding (Sun et al.
2019). Each aggregate first drops non-finite rows (counted as `dropped`), then works on
the `[K, P]` matrix with tensor operations only: pairwise distances come from one
`torch.cdist`. They treat clients equally (sample counts do not weight them), as in the
papers; multi-Krum can weight its selected updates by sample count instead (`weighted`).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from fedhive.server.aggregate import drop_nonfinite
from fedhive.server.chain import RoundContext, Transform


def _aggregate(reduce: Callable[..., torch.Tensor], weighted: bool = False) -> Transform:
    """An aggregate `reduce([K', P]) -> [P]` over the finite rows (`reduce(rows, weights)`
    when `weighted`); zeros when none is left."""

    def update(updates: torch.Tensor, state: Any, ctx: RoundContext) -> tuple[torch.Tensor, Any]:
        rows, weights = drop_nonfinite(updates, ctx.weights, ctx)
        if rows.shape[0] == 0:
            return updates.new_zeros(updates.shape[1]), state
        return (reduce(rows, weights) if weighted else reduce(rows)), state

    return Transform(lambda params: (), update, "aggregate")


def _sorted_median(s: torch.Tensor) -> torch.Tensor:
    k = s.shape[0]
    return (s[(k - 1) // 2] + s[k // 2]) / 2


def median() -> Transform:
    """The coordinate-wise median (the mean of the two middle values for even K)."""

    return _aggregate(lambda rows: _sorted_median(rows.sort(dim=0).values))


def trimmed_mean(beta: float = 0.1) -> Transform:
    """Coordinate-wise: drop the floor(beta K) largest and smallest values, average the rest."""
    if not 0 <= beta < 0.5:
        raise ValueError(f"trimmed_mean: beta must be in [0, 0.5), got {beta}")

    def reduce(rows: torch.Tensor) -> torch.Tensor:
        k = rows.shape[0]
        cut = int(beta * k)
        return rows.sort(dim=0).values[cut : k - cut].mean(dim=0)

    return _aggregate(reduce)


def _neighbour_scores(d2: torch.Tensor, alive: torch.Tensor, f: int) -> torch.Tensor:
    """Krum's score of each row among the `alive` rows (inf for the others), from the
    squared distances `d2` `[K, K]`: the sum over its n = r - f - 2 nearest alive others
    (r alive; at least one neighbour when r is too small for f)."""
    r = int(alive.sum())
    n = min(max(r - f - 2, 1), r - 1)
    others = alive[None, :] & ~torch.eye(len(alive), dtype=torch.bool, device=d2.device)
    nearest = d2.masked_fill(~others, torch.inf).sort(dim=1).values[:, :n].sum(dim=1)
    return nearest.masked_fill(~alive, torch.inf)


def _squared_distances(rows: torch.Tensor) -> torch.Tensor:
    return torch.cdist(rows, rows, compute_mode="donot_use_mm_for_euclid_dist").square()


def krum_scores(rows: torch.Tensor, f: int) -> torch.Tensor:
    """Krum's score per row: the sum of squared distances to its K - f - 2 nearest other
    rows (at least one neighbour when the cohort is too small for f)."""
    if rows.shape[0] == 1:
        return rows.new_zeros(1)
    return _neighbour_scores(_squared_distances(rows), torch.ones(rows.shape[0], dtype=torch.bool), f)


def multi_krum(f: int = 1, m: int | None = None, weighted: bool = False) -> Transform:
    """The mean of the `m` rows with the lowest Krum scores (default m = K - f): uniform,
    as in Blanchard et al. 2017, or weighted by the clients' sample counts (`weighted`,
    as Flower's `aggregate_krum` does)."""

    def reduce(rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        k = rows.shape[0]
        keep = min(m if m is not None else k - f, k)
        best = krum_scores(rows, f).argsort()[: max(keep, 1)]
        if not weighted:
            return rows[best].mean(dim=0)
        w = weights[best].to(rows.dtype)
        return (w[:, None] * rows[best]).sum(dim=0) / w.sum().clamp_min(1e-12)

    return _aggregate(reduce, weighted=True)


def krum(f: int = 1) -> Transform:
    """Krum: the single update with the lowest score."""
    return multi_krum(f, m=1)


def bulyan_select(rows: torch.Tensor, f: int) -> torch.Tensor:
    """Indices of Bulyan's selection set, in the order chosen: Krum re-run on the rows not
    yet chosen, theta = K - 2f times (El Mhamdi et al. 2018, Sec. 4). Some libraries
    score every row once and keep the theta best, which is not the same selection."""
    d2 = _squared_distances(rows)
    alive = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    chosen = []
    for _ in range(max(rows.shape[0] - 2 * f, 1)):
        best = int(_neighbour_scores(d2, alive, f).argmin()) if int(alive.sum()) > 1 else int(alive.nonzero()[0])
        chosen.append(best)
        alive[best] = False
    return torch.tensor(chosen, device=rows.device)


def bulyan(f: int = 1) -> Transform:
    """Bulyan (El Mhamdi et al. 2018, Algorithm 1 with Krum): the selection set S of
    theta = K - 2f rows (`bulyan_select`), then per coordinate the mean of the
    beta = theta - 2f values of S closest to S's median. The paper asks K >= 4f + 3 (the
    config checks cohort.min); with fewer rows beta is at least one (the median-closest)."""

    def reduce(rows: torch.Tensor) -> torch.Tensor:
        picked = rows[bulyan_select(rows, f)]
        beta = max(picked.shape[0] - 2 * f, 1)
        centre = _sorted_median(picked.sort(dim=0).values)
        closest = (picked - centre).abs().argsort(dim=0, stable=True)[:beta]
        return picked.gather(0, closest).mean(dim=0)

    return _aggregate(reduce)


def norm_bound(max_norm: float) -> Transform:
    """Client stage: scale each update to L2 norm at most `max_norm`; counts `clipped`.
    A non-finite row stays non-finite, so the aggregate drops and counts it."""

    def update(updates: torch.Tensor, state: Any, ctx: RoundContext) -> tuple[torch.Tensor, Any]:
        norms = updates.norm(dim=1, keepdim=True)
        ctx.metrics["clipped"] = ctx.metrics.get("clipped", 0) + int((norms > max_norm).sum())
        return updates * (max_norm / norms).clamp(max=1.0), state

    return Transform(lambda params: (), update, "client")
