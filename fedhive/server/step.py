"""The one server step that sync rounds and the async buffer both take: apply the chain
to a cohort's updates and commit only a finite model; dropped clients keep their state."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, cast

import torch

from fedhive.server.chain import ReducedUpdates, RoundContext, Transform, finite_rows


def _nothing() -> None:
    return None


class Cohort(NamedTuple):
    """The cohort's updates (rows or their linear reduction) and context; `finish()`, called after
    the step whatever its outcome, returns its metrics row; `commit()` what the scheduler stores once the step is
    committed (a sync round's client states); `label`/`skipped` word a skipped step."""

    updates: torch.Tensor | ReducedUpdates
    ctx: RoundContext
    finish: Callable[[], dict[str, Any]]
    label: str
    skipped: str
    commit: Callable[[], None] = _nothing
    not_ready: str | None = None
    mixing_rate: float = 1.0


class StepResult(NamedTuple):
    """The new model and chain state (the old ones when not `committed`), and why not."""

    params: torch.Tensor
    server_state: Any
    committed: bool
    reason: str | None = None


def server_step(server: Transform, params: torch.Tensor, server_state: Any, updates: torch.Tensor | ReducedUpdates,
                ctx: RoundContext, mixing_rate: float = 1.0, not_ready: str | None = None) -> StepResult:
    """`params + mixing_rate * step` from the chain, committed if some update was usable
    and the new model is finite; `not_ready` (the scheduler's reason) skips the step."""
    if not_ready is not None:
        return StepResult(params, server_state, False, not_ready)
    if not finite_rows(updates).any():
        return StepResult(params, server_state, False, "no client update was usable")
    # Rows, or their ReducedUpdates when the chain starts with a linear aggregate (Transform.linear).
    step, new_state = server.update(cast(torch.Tensor, updates), server_state, ctx)
    new = params + (mixing_rate * step if mixing_rate != 1 else step)
    if not torch.isfinite(new).all():
        return StepResult(params, server_state, False, "the server step was not finite")
    return StepResult(new, new_state, True)


def kept_states(old: dict[str, torch.Tensor], new: dict[str, torch.Tensor],
                usable: torch.Tensor) -> dict[str, torch.Tensor]:
    """The cohort's client states to store: the new ones, except that a client whose
    update was dropped keeps its old state."""
    return {k: torch.where(usable.view(-1, *[1] * (v.dim() - 1)), v, old[k]) if k in old else v for k, v in new.items()}
