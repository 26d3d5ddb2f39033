"""Server optimizers as transforms: they turn an aggregated pseudo-gradient into the step
added to the global parameters (already negated, as in optax)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from fedhive.server.chain import RoundContext, Transform


def sgd(lr: float) -> Transform:
    """params <- params - lr * g."""

    def update(g: torch.Tensor, state, ctx: RoundContext):
        return -lr * g, state

    return Transform(lambda params: (), update, "server")


class AdamState(NamedTuple):
    count: torch.Tensor
    mu: torch.Tensor
    nu: torch.Tensor


def adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    """Adam (Kingma & Ba 2015) with bias correction, matching `torch.optim.Adam`."""

    def init(params: torch.Tensor) -> AdamState:
        return AdamState(torch.zeros((), dtype=torch.int64), torch.zeros_like(params), torch.zeros_like(params))

    def update(g: torch.Tensor, state: AdamState, ctx: RoundContext):
        count = state.count + 1
        mu = b1 * state.mu + (1 - b1) * g
        nu = b2 * state.nu + (1 - b2) * g * g
        t = int(count)
        mu_hat = mu / (1 - b1**t)
        nu_hat = nu / (1 - b2**t)
        return -lr * mu_hat / (nu_hat.sqrt() + eps), AdamState(count, mu, nu)

    return Transform(init, update, "server")
