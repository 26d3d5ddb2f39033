"""Aggregates: reduce the cohort's `[K, P]` updates to one `[P]` update.

Every aggregate first drops rows that are not finite (NaN/Inf) and records how many it
dropped as `dropped`, so one broken client never reaches the model. Linear aggregates
also accept updates an engine already reduced chunk by chunk (`ReducedUpdates`).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from fedhive.server.chain import LinearAggregate, ReducedUpdates, RoundContext, Transform, finite_rows


def count_dropped(ok: torch.Tensor, ctx: RoundContext) -> None:
    """Add the number of rows not `ok` to the round's `dropped` metric."""
    ctx.metrics["dropped"] = ctx.metrics.get("dropped", 0) + int((~ok).sum())


def drop_nonfinite(updates: torch.Tensor, weights: torch.Tensor, ctx: RoundContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The finite rows of `updates` and their weights; counts the rest in ctx.metrics."""
    ok = finite_rows(updates)
    count_dropped(ok, ctx)
    if not ok.all():
        return updates[ok], weights[ok]
    return updates, weights


def linear_aggregate(coef: Callable[[torch.Tensor], torch.Tensor],
                     finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Transform:
    """An aggregate of the form `finish(sum_k coef(w)_k * u_k, w)` over finite rows."""
    linear = LinearAggregate(coef, finish)

    def update(updates: torch.Tensor | ReducedUpdates, state: Any, ctx: RoundContext) -> tuple[torch.Tensor, Any]:
        reduced = updates if isinstance(updates, ReducedUpdates) else linear.reduce(updates, ctx.weights)
        count_dropped(reduced.finite, ctx)
        return finish(reduced.total, ctx.weights[reduced.finite]), state

    return Transform(lambda params: (), update, "aggregate", linear)


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
