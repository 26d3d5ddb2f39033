"""The engine a config names, and what the experiment asks of any engine."""

from __future__ import annotations

import torch

from fedhive.client.state import ClientStateStore
from fedhive.config import EngineConfig
from fedhive.engines.base import Engine
from fedhive.engines.distributed import DistributedEngine
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.errors import UserError
from fedhive.models.functional import FunctionalModel


def build_engine(config: EngineConfig, device: torch.device | str = "cpu", rounds: int | None = None,
                 model: FunctionalModel | None = None) -> Engine:
    """The engine named in the config, for a run of `rounds` rounds (if known: it decides
    whether compiling pays) training `model` (if known: its activations bound chunks).
    Under a launcher that started several processes (torchrun), only the distributed
    engine makes sense."""
    from fedhive.engines.process_group import launched_world_size

    world = launched_world_size()
    if world > 1 and config.name != "distributed":
        raise UserError(f"engine.name: started as {world} processes (WORLD_SIZE={world}); set engine.name=distributed")
    return create_engine(config, device, rounds, model)


def create_engine(config: EngineConfig, device: torch.device | str = "cpu", rounds: int | None = None,
                  model: FunctionalModel | None = None) -> Engine:
    """The engine named in the config, wherever this process runs."""
    if config.name == "distributed":
        return DistributedEngine(config, device, rounds, model)
    if config.name == "vectorized":
        return VectorizedEngine(config, rounds, model)
    return SequentialEngine(config)


def is_leader(engine: Engine) -> bool:
    """Whether this process writes the run folder and shows progress (rank 0, or the only one)."""
    return engine.rank == 0


def client_state_store(engine: Engine, init_state, params: torch.Tensor) -> ClientStateStore:
    """Where per-client state lives: the engine says (the distributed engine keeps each
    client's state on the rank that owns it; the others keep it in this process)."""
    return engine.state_store(init_state, params)
