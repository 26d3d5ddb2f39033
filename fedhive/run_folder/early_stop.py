"""Early stopping (`stop:`): end a run once it reaches a target test accuracy or stops improving."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from fedhive.config.sections import Section


class StopConfig(Section):
    """When a run ends before `rounds`; both off by default."""

    target_accuracy: float | None = Field(None, gt=0, le=1, description="stop at the first evaluation reaching it")
    patience: int | None = Field(None, ge=1, description="stop after this many rounds without a new best test accuracy")


def should_stop(history: list[dict[str, Any]], stop: StopConfig) -> bool:
    """Whether the rounds so far meet a stopping rule. A function of the metrics rows
    alone, so a resumed run stops at the same round as an uninterrupted one."""
    if stop.target_accuracy is None and stop.patience is None:
        return False  # no rule: not worth a pass over the whole history every round
    evals = [(r["round"], r["test_accuracy"]) for r in history if r.get("test_accuracy") is not None]
    if not evals:
        return False
    if stop.target_accuracy is not None and evals[-1][1] >= stop.target_accuracy:
        return True
    if stop.patience is not None:
        best_round = max(evals, key=lambda e: e[1])[0]  # the first round with the best accuracy
        return history[-1]["round"] - best_round >= stop.patience
    return False
