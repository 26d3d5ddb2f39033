"""What every engine returns, and how it reports failed client updates."""

from __future__ import annotations

from typing import NamedTuple

import torch

from fedhive.reduction import ReducedUpdates


class ClientError(RuntimeError):
    """A client update raised; names the round and the client(s)."""


class CohortResult(NamedTuple):
    """A cohort's results in client order: updates `[K, P]` (or, when the engine was given
    the server's linear aggregate, their `ReducedUpdates`), weights `[K]`, per-client
    metrics `{name: [K]}`, new persistent client states `{name: [K, ...]}` and per-round
    outputs for the server `{name: [K, ...]}`."""

    updates: torch.Tensor | ReducedUpdates
    weights: torch.Tensor
    metrics: dict[str, torch.Tensor]
    states: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]


def warn_failures(round: int, failures: list[str]) -> None:
    """One warning for the client updates of `round` (0-based) that raised and were dropped."""
    if failures:
        import warnings

        from fedhive.errors import FedhiveWarning

        warnings.warn(
            f"round {round + 1}: {len(failures)} client update(s) raised and were dropped "
            f"(first: {failures[0]}); engine.fail_fast=true re-raises instead",
            FedhiveWarning,
        )
