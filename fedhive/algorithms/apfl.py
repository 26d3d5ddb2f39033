"""APFL (Deng et al. 2020, Algorithm 1): each client keeps a local model v_k and a mixing
weight alpha_k (client state) beside its copy w of the global model. Every local step
takes `w <- w - lr grad f_k(w)` (the FedAvg part, sent to the server),
`v <- v - lr alpha grad f_k(vbar)` with `vbar = alpha v + (1 - alpha) w`, and, when
`adaptive`, `alpha <- clip(alpha - alpha_lr <v - w, grad f_k(vbar)>, 0, 1)` (eq. 8).
Client k's personal model: `alpha_k v_k + (1 - alpha_k) w` with the global w."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs, local_batches, round_lr, step_gradient
from fedhive.data.batches import Batches


class Apfl(Hyperparameters):
    alpha: float = Field(0.5, ge=0, le=1, description="initial mixing weight alpha of the local model")
    alpha_lr: float = Field(0.1, ge=0, description="step size of alpha's update (0: alpha fixed)")


def mix(alpha: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return alpha * v + (1 - alpha) * w


def client_update(setup: Setup[Apfl]) -> ClientUpdate:
    model, c, lr_alpha = setup.model, setup.config.client, setup.hp.alpha_lr
    grad_fn = step_gradient(model)

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        w, v, alpha, lr = params, state["v"], state["alpha"], round_lr(inputs, c.lr)
        losses, samples = [], []
        for x, y, mask in local_batches(data, c.epochs, c.steps, inputs):
            active = mask.amax()  # 0 on a padding step: nothing moves
            g_w, (loss, stats_w) = grad_fn(w, x, y, mask)
            g_bar, (_, stats_bar) = grad_fn(mix(alpha, v, w), x, y, mask)
            alpha_next = (alpha - active * lr_alpha * ((v - w) * g_bar).sum()).clamp(0.0, 1.0)
            v = model.with_stats(v - active * lr * alpha * g_bar, stats_bar, active)
            w, alpha = model.with_stats(w - active * lr * g_w, stats_w, active), alpha_next
            losses.append(loss)
            samples.append(mask.sum().reshape(1))
        n = torch.cat(samples)
        loss = (torch.cat(losses) * n).sum() / n.sum().clamp_min(1.0)
        return ClientResult(params - w, data.sizes, {"v": v, "alpha": alpha}, {}, {"loss": loss})

    return update


ALGORITHM = replace(
    FEDAVG, name="apfl", client_update=client_update, hyperparameters=Apfl,
    client_state=lambda setup, params: {"v": params.clone(), "alpha": params.new_tensor(setup.hp.alpha)},
    personal=lambda setup: lambda params, server_state, state: mix(state["alpha"], state["v"], params),
)
