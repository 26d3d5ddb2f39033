"""Aggregates: reduce the cohort's `[K, P]` updates to one `[P]` update.

Every aggregate first drops rows that are not finite (NaN/Inf) and records how many it
dropped as `dropped`, so one broken client never reaches the model.
"""

from __future__ import annotations

import torch

from fedhive.server.chain import LinearAggregate, PartialSum, RoundContext, Transform


def drop_nonfinite(updates: torch.Tensor, weights: torch.Tensor, ctx: RoundContext):
    """The finite rows of `updates` and their weights; counts the rest in ctx.metrics."""
    ok = torch.isfinite(updates).all(dim=1)
    dropped = int((~ok).sum())
    ctx.metrics["dropped"] = ctx.metrics.get("dropped", 0) + dropped
    if dropped:
        return updates[ok], weights[ok]
    return updates, weights


def linear_aggregate(coef, finish) -> Transform:
    """An aggregate of the form `finish(sum_k coef(w)_k * u_k, w)` over finite rows."""

    def update(updates: torch.Tensor | PartialSum, state, ctx: RoundContext):
        if isinstance(updates, PartialSum):  # an engine already took the sum
            ctx.metrics["dropped"] = ctx.metrics.get("dropped", 0) + updates.dropped
            return finish(updates.total, updates.weights), state
        rows, w = drop_nonfinite(updates, ctx.weights, ctx)
        total = coef(w).to(rows.dtype) @ rows
        return finish(total, w), state

    return Transform(lambda params: (), update, "aggregate", LinearAggregate(coef, finish))


def _ones(w: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(w)


def _identity(w: torch.Tensor) -> torch.Tensor:
    return w


def sum_updates() -> Transform:
    """The plain sum of client updates (the reference experiment's aggregate)."""
    return linear_aggregate(_ones, lambda total, w: total)


def mean() -> Transform:
    """The unweighted mean over clients."""
    return linear_aggregate(_ones, lambda total, w: total / max(len(w), 1))


def weighted_mean() -> Transform:
    """The mean weighted by each client's weight (its sample count), as in FedAvg."""
    return linear_aggregate(_identity, lambda total, w: total / w.sum().clamp_min(1e-12))
