"""Linear reductions of a cohort's updates: the types the engines and the server chain
share (engines stream a linear aggregate chunk by chunk and across ranks)."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch


class ReducedUpdates(NamedTuple):
    """A cohort's updates already reduced by a linear aggregate's `coef`: `total` is
    `sum_k coef(w)_k u_k` over the finite rows and `finite [K]` says which rows counted.
    Partial reductions of disjoint slices of the cohort (chunks, processes) combine by
    adding totals and concatenating masks, so an engine never needs the `[K, P]` matrix."""

    total: torch.Tensor
    finite: torch.Tensor


def finite_rows(updates: torch.Tensor | ReducedUpdates) -> torch.Tensor:
    """`[K]` bools: which clients' updates are finite (NaN/Inf rows count for nothing),
    whether given as `[K, P]` rows or as their linear reduction."""
    if isinstance(updates, ReducedUpdates):
        return updates.finite
    return torch.isfinite(updates).all(dim=1)


class LinearAggregate(NamedTuple):
    """An aggregate that is `finish(sum_k coef(w)_k u_k, w_finite)`, with `coef`
    elementwise (normalisation belongs in `finish`); engines may stream it in O(P)."""

    coef: Callable[[torch.Tensor], torch.Tensor]
    finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def reduce(self, rows: torch.Tensor, weights: torch.Tensor) -> ReducedUpdates:
        """Reduce `[K, P]` rows; rows with a NaN or Inf count for nothing."""
        finite = finite_rows(rows)
        c = torch.where(finite, self.coef(weights).to(rows.dtype), 0.0)
        return ReducedUpdates(c @ torch.where(finite[:, None], rows, 0.0), finite)
