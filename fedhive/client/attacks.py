"""Attacks for robustness studies: a wrapper that makes some clients send bad updates.

Each round, `round(fraction K)` of the K sampled clients are malicious, chosen by the
keyed generator `(seed, round, "attack")`, so the choice does not depend on the engine.
The choice reaches the client update as a per-client input `attack.malicious` (0/1), and
the wrapped update selects with `torch.where`, so it stays one vmappable function:

- `sign_flip`: sends `-factor * update` (factor 4 as in Li et al. 2019, RSA);
- `scale`: sends `factor * update`;
- `gaussian`: sends N(0, std^2) noise instead of its update (keyed per client);
- `label_flip`: trains on labels `C - 1 - y` (C classes);
- `nan`: sends NaN (the aggregates drop and count it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import torch

from fedhive import rng
from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.config import AttackConfig
from fedhive.data.batches import Batches

MALICIOUS, NOISE = "attack.malicious", "attack.noise"
RoundInputs = Callable[[int, Sequence[int], torch.Tensor, Any], dict[str, torch.Tensor]]


def malicious_mask(seed: int, round: int, num_sampled: int, fraction: float) -> torch.Tensor:
    """`[K]` 0/1: exactly round(fraction K) of the cohort's positions, keyed by (seed, round)."""
    g = rng.generator(seed, round, rng.GLOBAL, "attack")
    chosen = torch.randperm(num_sampled, generator=g)[: round_half_up(fraction * num_sampled)]
    mask = torch.zeros(num_sampled)
    mask[chosen] = 1.0
    return mask


def round_half_up(x: float) -> int:
    return int(x + 0.5)


def attack_inputs(config: AttackConfig, seed: int) -> RoundInputs:
    """The per-round inputs of the attacked update: who is malicious, and (gaussian) the
    noise each malicious client sends, drawn from (seed, round, client, "attack-noise")."""

    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        mask = malicious_mask(seed, round, len(ids), config.fraction).to(params)
        out = {MALICIOUS: mask}
        if config.name == "gaussian":
            noise = params.new_zeros(len(ids), params.numel())
            for i in mask.nonzero().flatten().tolist():
                g = rng.generator(seed, round, int(ids[i]), "attack-noise")
                noise[i] = config.std * torch.randn(params.numel(), generator=g).to(params)
            out[NOISE] = noise
        return out

    return inputs


def _poison(config: AttackConfig, update: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    if config.name == "sign_flip":
        return -config.factor * update
    if config.name == "scale":
        return config.factor * update
    if config.name == "gaussian":
        return inputs[NOISE]
    if config.name == "nan":
        return torch.full_like(update, float("nan"))
    return update  # label_flip poisons the data instead


def attacked_update(update: ClientUpdate, config: AttackConfig, num_classes: int) -> ClientUpdate:
    """`update` where malicious clients (input `attack.malicious` = 1) attack."""

    def wrapped(params: torch.Tensor, data: Batches, state: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor],
                key: torch.Tensor) -> ClientResult:
        bad = inputs[MALICIOUS] > 0
        own = {k: v for k, v in inputs.items() if k not in (MALICIOUS, NOISE)}  # the wrapped algorithm's inputs
        if config.name == "label_flip":
            flipped = (num_classes - 1 - data.y) * data.mask
            data = data._replace(y=torch.where(bad, flipped, data.y))
        result = update(params, data, state, own, key)
        return result._replace(update=torch.where(bad, _poison(config, result.update, inputs), result.update))

    return wrapped
