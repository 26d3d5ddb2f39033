"""The Gaussian mechanism of DP-FedAvg (McMahan et al. 2018): clip each client's update to
L2 norm S, sum, add N(0, (z S)^2) once, divide by the expected cohort size.

The client half is `clip_per_client` (each row of the cohort's `[K, P]` matrix), the server
half `fixed_denominator_sum` then `gaussian_noise`. The denominator is fixed (not the
realised K) so that one client changes the output by at most S / denominator, which is
what the accountant assumes.
"""

from __future__ import annotations

import torch

from fedhive import rng
from fedhive.server.aggregate import linear_aggregate
from fedhive.server.chain import RoundContext, Transform


def clip_rows(updates: torch.Tensor, clip: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row scaled to L2 norm at most `clip`; returns (clipped rows, original norms).
    A zero row stays zero; a non-finite row stays non-finite (the aggregate drops it)."""
    norms = torch.linalg.vector_norm(updates, dim=-1)
    scale = (clip / norms.clamp_min(1e-30)).clamp(max=1.0)
    return updates * scale.unsqueeze(-1), norms


def clip_per_client(clip: float) -> Transform:
    """Client stage: every update clipped to L2 norm `clip` (S). Records the fraction of
    updates that were clipped as `dp_clipped`."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        clipped, norms = clip_rows(updates, clip)
        if len(norms):
            ctx.metrics["dp_clipped"] = float((norms > clip).float().mean())
        return clipped, state

    return Transform(lambda params: (), update, "client")


def fixed_denominator_sum(denominator: float) -> Transform:
    """Aggregate: the sum of the (finite) clipped updates divided by a fixed `denominator`,
    the expected cohort size (q N for Poisson sampling, K for fixed-size cohorts)."""
    return linear_aggregate(torch.ones_like, lambda total, w: total / denominator)


def gaussian_like(x: torch.Tensor, std: float | torch.Tensor, seed: int, round: int, purpose: str):
    """N(0, std^2) noise shaped like x, from the keyed generator (seed, round, GLOBAL,
    purpose): the same on every engine and every rank."""
    g = rng.generator(seed, round, rng.GLOBAL, purpose)
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    return (noise * std).to(dtype=x.dtype, device=x.device)


def gaussian_noise(std: float) -> Transform:
    """Server stage: adds N(0, std^2) to the aggregate (std = z S / denominator), keyed by
    (seed, round, "dp-noise"). Records `dp_noise_std` and the signal-to-noise ratio
    ||aggregate|| / (std sqrt(P)) as `dp_snr`."""

    def update(agg: torch.Tensor, state, ctx: RoundContext):
        ctx.metrics["dp_noise_std"] = std
        if std > 0:
            ctx.metrics["dp_snr"] = float(torch.linalg.vector_norm(agg)) / (std * agg.numel() ** 0.5)
            agg = agg + gaussian_like(agg, std, ctx.seed, ctx.round, "dp-noise")
        return agg, state

    return Transform(lambda params: (), update, "server")
