"""How many samples a client update processes: the work its task time is made of."""

from __future__ import annotations

import torch

from fedhive.config import Config


def _trains_locally(config: Config) -> bool:
    from fedhive.algorithms.registry import find_algorithm

    return find_algorithm(config.algorithm.name).local_training


def local_epochs(config: Config) -> int:
    """Local passes over the client's data (an algorithm that does not train locally,
    such as FedSGD, makes one: a gradient at the global model)."""
    return config.client.epochs if _trains_locally(config) else 1


def fixed_steps(config: Config) -> int | None:
    """The fixed number of local steps, when the client update runs steps, not epochs."""
    return config.client.steps if _trains_locally(config) else None


def samples_processed(config: Config, per_step: torch.Tensor) -> torch.Tensor:
    """Samples each client processes, `[K]`, from its per-step sample counts `[K, S]`:
    epochs × its samples, or, with fixed steps, those steps cycling over its real batches."""
    steps = fixed_steps(config)
    if steps is None:
        return local_epochs(config) * per_step.sum(-1)
    real = (per_step > 0).sum(-1).clamp_min(1)
    order = torch.arange(steps).unsqueeze(0) % real.unsqueeze(1)
    return per_step.gather(1, order).sum(-1)


def payload_bytes(config: Config, params: torch.Tensor) -> tuple[int, int]:
    """(bytes down, bytes up) of one task: the model, and the client's upload as the
    configured compression codec encodes it, so compression shortens simulated time."""
    down = params.numel() * params.element_size()
    codec = config.compression
    if codec.name == "none":
        return down, down
    from fedhive.compression import build_codec

    return down, build_codec(codec.name, codec.levels, codec.fraction, codec.error_feedback).nbytes(params.numel())
