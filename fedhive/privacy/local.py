"""Local differential privacy: each client clips its update to L2 norm S and adds
N(0, (z S)^2) itself before upload, so the server only ever sees noised updates."""

from __future__ import annotations

import torch

from fedhive import rng
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.privacy.gaussian import clip_rows


def local_dp(update_fn: ClientUpdate, clip: float, noise_multiplier: float, seed: int) -> ClientUpdate:
    """A client update whose result is clipped to `clip` (S) and noised with std z S; the
    noise is keyed by (seed, the engine's client key, "ldp-noise")."""

    def update(params: torch.Tensor, data, state: ClientState, key: torch.Tensor) -> ClientResult:
        res = update_fn(params, data, state, key)
        clipped, _ = clip_rows(res.update, clip)
        g = rng.generator(seed, int(key), rng.GLOBAL, "ldp-noise")
        noise = torch.randn(clipped.shape, generator=g, dtype=torch.float64) * (noise_multiplier * clip)
        return res._replace(update=clipped + noise.to(clipped))

    return update
