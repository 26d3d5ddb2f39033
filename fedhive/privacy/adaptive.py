"""Adaptive clipping (Andrew et al. 2021, "Differentially Private Learning with Adaptive
Clipping", arXiv:1905.03871): the clip norm C follows a quantile of the update norms.

Client half: clip the update to C and report b = 1[||Delta|| <= C]. Server half: sum the
clipped updates and add N(0, (z_Delta C)^2); add N(0, sigma_b^2) to the count of b; then
C <- C exp(-eta_C (b~ - gamma)), b~ the noisy count over the expected cohort size. Both
halves live in one transform because C is its state. The two noises share the privacy
budget: z_Delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) (Theorem 1 of the paper).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from fedhive.privacy.gaussian import clip_rows, gaussian_like
from fedhive.server.aggregate import drop_nonfinite
from fedhive.server.chain import RoundContext, Transform


class AdaptiveClipState(NamedTuple):
    clip: torch.Tensor  # C, a float64 scalar


def split_noise(noise_multiplier: float, count_noise: float) -> float:
    """z_Delta, the update's share of the noise multiplier z when the count gets sigma_b.

    Raises ValueError when z >= 2 sigma_b: the count would then use the whole budget."""
    if noise_multiplier == 0:
        return 0.0
    if noise_multiplier >= 2 * count_noise:
        raise ValueError(
            f"noise multiplier z={noise_multiplier:g} must be < 2 * count_noise = {2 * count_noise:g}"
        )
    return (noise_multiplier**-2 - (2 * count_noise) ** -2) ** -0.5


def client_half(updates: torch.Tensor, clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each update clipped to `clip` (C), and its indicator b = 1[||Delta|| <= C] (0 for a
    non-finite update, which the aggregate drops)."""
    clipped, norms = clip_rows(updates, clip)
    return clipped, (norms <= clip).to(updates.dtype)


def next_clip(clip: float, noisy_fraction: float, target_quantile: float, lr: float) -> float:
    """The geometric update C exp(-eta (b~ - gamma)): C grows when fewer than a fraction
    gamma of updates fit under it, shrinks when more do."""
    return clip * math.exp(-lr * (noisy_fraction - target_quantile))


def adaptive_clip_sum(
    initial_clip: float,
    noise_multiplier: float,
    denominator: float,
    target_quantile: float = 0.5,
    lr: float = 0.2,
    count_noise: float | None = None,
) -> Transform:
    """Aggregate: DP-FedAvg's clipped, noised, fixed-denominator sum with adaptive clipping.

    Args:
        initial_clip: C at round 0.
        noise_multiplier: z, the total noise multiplier the accountant sees.
        denominator: the expected cohort size (q N, or K for fixed-size cohorts).
        target_quantile: gamma, the fraction of updates meant to fit under C.
        lr: eta_C, the geometric step size.
        count_noise: sigma_b, std of the noise on the count (default denominator / 20).
    """
    sigma_b = denominator / 20 if count_noise is None else count_noise
    z_delta = split_noise(noise_multiplier, sigma_b)

    def init(params: torch.Tensor) -> AdaptiveClipState:
        return AdaptiveClipState(torch.tensor(float(initial_clip), dtype=torch.float64))

    def update(updates: torch.Tensor, state: AdaptiveClipState, ctx: RoundContext):
        clip = float(state.clip)
        clipped, unclipped = client_half(updates, clip)
        rows, _ = drop_nonfinite(clipped, ctx.weights, ctx)
        std = z_delta * clip / denominator
        agg = rows.sum(0) / denominator
        if std > 0:
            agg = agg + gaussian_like(agg, std, ctx.seed, ctx.round, "dp-noise")
        count = float(unclipped.sum())
        if sigma_b > 0 and noise_multiplier > 0:
            count += float(gaussian_like(torch.zeros(()), sigma_b, ctx.seed, ctx.round, "dp-count-noise"))
        new_clip = next_clip(clip, count / denominator, target_quantile, lr)
        ctx.metrics.update(dp_clip=clip, dp_unclipped=float(unclipped.mean()) if len(rows) else 0.0,
                           dp_noise_std=std)
        return agg, AdaptiveClipState(torch.tensor(new_clip, dtype=torch.float64))

    return Transform(init, update, "aggregate")
