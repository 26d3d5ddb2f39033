"""Local differential privacy: each client clips its update to L2 norm S and adds
N(0, (z S)^2) itself before upload, so the server only ever sees noised updates."""

from __future__ import annotations

import torch

from fedhive import rng
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.privacy.gaussian import clip_rows


def local_dp(update_fn: ClientUpdate, clip: float, noise_multiplier: float, seed: int) -> ClientUpdate:
    """A client update whose result is clipped to `clip` (S) and noised with std z S. The
    noise is a pure function of (seed, the engine's client key), drawn with tensor ops, so
    every engine (vmap included) gives each client the same noise."""

    def update(params: torch.Tensor, data, state: ClientState, inputs, key: torch.Tensor) -> ClientResult:
        res = update_fn(params, data, state, inputs, key)
        clipped, _ = clip_rows(res.update, clip)
        noise = rng.keyed_normal(rng.salted(key.to(clipped.device), seed, "ldp-noise"), clipped.shape[-1])
        return res._replace(update=clipped + (noise_multiplier * clip * noise).to(clipped.dtype))

    return update
