"""How many intra-op threads torch uses for a run: chosen from the work, or set."""

from __future__ import annotations

import torch

from fedhive.config import EngineConfig

# Below this many parameters a model's ops are too small to split between threads: a
# second thread adds synchronisation on every op, and on a busy machine the threads wait
# for each other (the reference model ran 4-14x slower with 2 threads beside one other
# CPU-bound process, and barely slower with 1).
TINY_PARAMS = 10_000


def pick_threads(config: EngineConfig, num_params: int, device: torch.device) -> int | None:
    """`engine.threads` if set; else 1 for a tiny model on the CPU; else None (torch's own)."""
    if config.threads is not None:
        return config.threads
    return 1 if device.type == "cpu" and num_params < TINY_PARAMS else None


def use_threads(config: EngineConfig, num_params: int, device: torch.device) -> None:
    """Set torch's intra-op thread count for this process as `pick_threads` says."""
    threads = pick_threads(config, num_params, device)
    if threads is not None and threads != torch.get_num_threads():
        torch.set_num_threads(threads)
