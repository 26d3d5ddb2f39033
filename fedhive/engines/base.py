"""What every engine returns, and the engine registry."""

from __future__ import annotations

from typing import NamedTuple

import torch

from fedhive.config import EngineConfig
from fedhive.errors import UserError
from fedhive.server.chain import ReducedUpdates


class ClientError(RuntimeError):
    """A client update raised; names the round and the client(s)."""


class CohortResult(NamedTuple):
    """A cohort's results in client order: updates `[K, P]` (or, when the engine was given
    the server's linear aggregate, their `ReducedUpdates`), weights `[K]`, per-client
    metrics `{name: [K]}` and new client states `{name: [K, ...]}`."""

    updates: torch.Tensor | ReducedUpdates
    weights: torch.Tensor
    metrics: dict[str, torch.Tensor]
    states: dict[str, torch.Tensor]


def build_engine(config: EngineConfig, device: torch.device | str = "cpu"):
    """The engine named in the config. Under a launcher that started several processes
    (torchrun), only the distributed engine makes sense."""
    from fedhive.engines.process_group import launched_world_size

    world = launched_world_size()
    if world > 1 and config.name != "distributed":
        raise UserError(f"engine.name: started as {world} processes (WORLD_SIZE={world}); set engine.name=distributed")
    return create_engine(config, device)


def create_engine(config: EngineConfig, device: torch.device | str = "cpu"):
    """The engine named in the config, wherever this process runs (also a rank's local engine)."""
    from fedhive.engines.distributed import DistributedEngine
    from fedhive.engines.sequential import SequentialEngine
    from fedhive.engines.vectorized import VectorizedEngine

    engines = {
        "sequential": lambda: SequentialEngine(config),
        "vectorized": lambda: VectorizedEngine(config),
        "distributed": lambda: DistributedEngine(config, device),
    }
    return engines[config.name]()


def is_leader(engine) -> bool:
    """Whether this process writes the run folder and shows progress (rank 0, or the only one)."""
    return getattr(engine, "rank", 0) == 0


def client_state_store(engine, init_state, params: torch.Tensor):
    """Where per-client state lives: the engine's own store if it has one (the distributed
    engine keeps each client's state on the rank that owns it), else one in-process store."""
    from fedhive.client.state import ClientStateStore

    make = getattr(engine, "state_store", None)
    return make(init_state, params) if make is not None else ClientStateStore(init_state, params)


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
