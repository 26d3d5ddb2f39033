"""Server optimizers as transforms: they turn an aggregated pseudo-gradient into the step
added to the global parameters (already negated, as in optax).

`sgd` and `momentum` (FedAvgM, Hsu et al. 2019); `adam`, `yogi` and `adagrad` share one
adaptive rule and differ only in the second-moment update, as in FedOpt (Reddi et al.
2021, Algorithm 2): m_t = b1 m + (1 - b1) g; v_t from the rule below; the step is
-lr m_t / (sqrt(v_t) + eps), eps being the paper's tau. Moments start at zero.

Each takes `lr` as a number or as a schedule `t -> lr` of the rounds already run
(fedhive/config/lr_schedule.py), read at the step's `ctx.round` and recorded as `server_lr`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Union

import torch

from fedhive.server.chain import RoundContext, Transform

LearningRate = Union[float, Callable[[int], float]]


def learning_rate(lr: LearningRate, ctx: RoundContext) -> float:
    """`lr` itself, or a schedule's value at `ctx.round`, recorded as the round's `server_lr`."""
    if not callable(lr):
        return lr
    value = lr(ctx.round)
    # Times a step size an earlier member recorded (FedExP's eta_g): the one the model gets.
    ctx.metrics["server_lr"] = ctx.metrics.get("server_lr", 1.0) * value
    return value


def sgd(lr: LearningRate) -> Transform:
    """params <- params - lr * g."""

    def update(g: torch.Tensor, state: tuple[()], ctx: RoundContext) -> tuple[torch.Tensor, tuple[()]]:
        return -learning_rate(lr, ctx) * g, state

    return Transform(lambda params: (), update, "server")


class MomentumState(NamedTuple):
    velocity: torch.Tensor


def momentum(lr: LearningRate, momentum: float = 0.9) -> Transform:
    """Server momentum (FedAvgM): v <- momentum v + g; params <- params - lr v."""

    def update(g: torch.Tensor, state: MomentumState, ctx: RoundContext) -> tuple[torch.Tensor, MomentumState]:
        v = momentum * state.velocity + g
        return -learning_rate(lr, ctx) * v, MomentumState(v)

    return Transform(lambda params: MomentumState(torch.zeros_like(params)), update, "server")


class AdamState(NamedTuple):
    """First and second moment estimates, shared by adam, yogi and adagrad."""

    # optax's name; it shadows tuple.count, which nothing here calls.
    count: torch.Tensor  # type: ignore[assignment]
    mu: torch.Tensor
    nu: torch.Tensor


SecondMoment = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (nu, g) -> new nu


def _adaptive(second_moment: SecondMoment, lr: LearningRate, b1: float, b2: float, eps: float,
              bias_correction: bool) -> Transform:
    def init(params: torch.Tensor) -> AdamState:
        return AdamState(torch.zeros((), dtype=torch.int64), torch.zeros_like(params), torch.zeros_like(params))

    def update(g: torch.Tensor, state: AdamState, ctx: RoundContext) -> tuple[torch.Tensor, AdamState]:
        count = state.count + 1
        mu = b1 * state.mu + (1 - b1) * g
        nu = second_moment(state.nu, g)
        mu_hat, nu_hat = mu, nu
        if bias_correction:
            t = int(count)
            mu_hat, nu_hat = mu / (1 - b1**t), nu / (1 - b2**t)
        return -learning_rate(lr, ctx) * mu_hat / (nu_hat.sqrt() + eps), AdamState(count, mu, nu)

    return Transform(init, update, "server")


def adam(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, bias_correction: bool = True) -> Transform:
    """Adam (Kingma & Ba 2015): v <- b2 v + (1 - b2) g^2. With bias correction it matches
    `torch.optim.Adam` (the reference experiment); without, it is FedAdam's rule."""
    return _adaptive(lambda nu, g: b2 * nu + (1 - b2) * g * g, lr, b1, b2, eps, bias_correction)


def yogi(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-3, bias_correction: bool = False) -> Transform:
    """Yogi (Zaheer et al. 2018; FedYogi): v <- v - (1 - b2) g^2 sign(v - g^2)."""
    return _adaptive(lambda nu, g: nu - (1 - b2) * g * g * torch.sign(nu - g * g), lr, b1, b2, eps, bias_correction)


def adagrad(lr: LearningRate, b1: float = 0.0, eps: float = 1e-3) -> Transform:
    """Adagrad (FedAdagrad): v <- v + g^2, with optional first-moment momentum b1."""
    return _adaptive(lambda nu, g: nu + g * g, lr, b1, 0.0, eps, bias_correction=False)
