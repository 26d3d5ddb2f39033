"""What every engine offers and returns, and how it reports failed client updates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import torch

from fedhive.client.state import ClientState, ClientStateStore
from fedhive.client.update import ClientUpdate
from fedhive.data.federated import ClientData
from fedhive.errors import UserError
from fedhive.reduction import LinearAggregate, ReducedUpdates


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


class Engine(Protocol):
    """What the experiment asks of every engine: `rank` (0: this process writes the run
    folder), where client state lives (`state_store`) and a cohort's results (`run`).
    An engine of several processes is also `AgreesStop`."""

    rank: int

    def state_store(self, init_state: Callable[[torch.Tensor], ClientState],
                    params: torch.Tensor) -> ClientStateStore: ...

    def run(self, update: ClientUpdate, params: torch.Tensor, dataset: ClientData, round: int,
            client_ids: Sequence[int], states: dict[str, torch.Tensor] | None = None,
            inputs: dict[str, torch.Tensor] | None = None,
            linear: LinearAggregate | None = None) -> CohortResult: ...


@runtime_checkable
class AgreesStop(Protocol):
    """An engine whose processes must stop after the same round, whichever got the signal."""

    def agree_stop(self, round: int, signum: int | None) -> int | None: ...


def warn_failures(round: int, failures: list[str], total: int | None = None) -> None:
    """One warning for the client updates of `round` (0-based) that raised and were dropped;
    a UserError instead if all `total` of them raised the same error (a model or data that
    cannot train: skipping rounds would not help)."""
    if not failures:
        return
    errors = {f.partition(": ")[2] for f in failures}
    if len(failures) == total and len(errors) == 1:
        raise UserError(f"round {round + 1}: all {total} client updates raised the same error: {errors.pop()}")
    import warnings

    from fedhive.errors import FedhiveWarning

    warnings.warn(
        f"round {round + 1}: {len(failures)} client update(s) raised and were dropped "
        f"(first: {failures[0]}); engine.fail_fast=true re-raises instead",
        FedhiveWarning,
    )
