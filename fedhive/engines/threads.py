"""How many intra-op threads torch uses for a run: chosen from the work, or set."""

from __future__ import annotations

import os

import torch

from fedhive.config import EngineConfig

# Below this many parameters a model's ops are too small to split between threads: a
# second thread adds synchronisation on every op, and on a busy machine the threads wait
# for each other (the reference model ran 4-14x slower with 2 threads beside one other
# CPU-bound process, and barely slower with 1).
TINY_PARAMS = 10_000
# Variables torch reads its intra-op thread count from at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_chosen: int | None = None  # the count this module last gave torch


def torch_default() -> int:
    """The count torch starts with: OMP_NUM_THREADS / MKL_NUM_THREADS, else its default,
    the physical cores (which torch also takes for inter-op threads until told otherwise)."""
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return torch.get_num_interop_threads()


def user_threads() -> int | None:
    """The count the user gave torch outside the config (a thread variable in the
    environment, or `torch.set_num_threads`), or None where torch's default stands."""
    now = torch.get_num_threads()
    if now != _chosen and now != torch.get_num_interop_threads():
        return now  # set by torch.set_num_threads, or by a thread variable torch read
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return torch_default()
    return None


def pick_threads(config: EngineConfig, num_params: int, device: torch.device) -> int:
    """`engine.threads` if set; else the user's own count (`user_threads`); else 1 for a
    tiny model on the CPU; else torch's default."""
    if config.threads is not None:
        return config.threads
    user = user_threads()
    if user is not None:
        return user
    return 1 if device.type == "cpu" and num_params < TINY_PARAMS else torch_default()


def use_threads(config: EngineConfig, num_params: int, device: torch.device) -> None:
    """Set torch's intra-op thread count for this process as `pick_threads` says."""
    global _chosen
    threads = pick_threads(config, num_params, device)
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    _chosen = threads
