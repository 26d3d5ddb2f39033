"""Client updates as pure `torch.func` functions, run unchanged by every engine.

A client update maps `(global_params [P], batches, state, key) -> ClientResult`. Its
`update` is a pseudo-gradient: the server treats it like a gradient and steps against
it, so FedSGD returns the summed batch gradients and FedAvg returns `params - local`.
Nothing here loops over samples or knows which engine calls it, so `vmap` over a cohort
gives each client exactly its own result.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch.func import grad

from fedhive.client.state import ClientState
from fedhive.config import ClientConfig
from fedhive.data.batches import Batches
from fedhive.models.functional import FunctionalModel


class ClientResult(NamedTuple):
    """What one client sends back: `update` [P], `weight` (its sample count), its new
    state, and scalar metrics such as its training loss."""

    update: torch.Tensor
    weight: torch.Tensor
    state: ClientState
    metrics: dict[str, torch.Tensor]


ClientUpdate = Callable[[torch.Tensor, Batches, ClientState, torch.Tensor], ClientResult]


def _sample_weighted_loss(per_step: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    n = mask.sum(-1)
    return (per_step * n).sum() / n.sum().clamp_min(1.0)


def gradient_update(model: FunctionalModel) -> ClientUpdate:
    """FedSGD: the sum over the client's batches of each batch's mean-loss gradient,
    taken at the global parameters, with no local step."""

    def total_loss(params: torch.Tensor, data: Batches):
        per_step = model.masked_loss(params, data.x, data.y, data.mask)
        # Summing per-batch mean losses makes one backward give the sum of batch gradients.
        return per_step.sum(), per_step

    grad_fn = grad(total_loss, has_aux=True)

    def update(params: torch.Tensor, data: Batches, state: ClientState, key: torch.Tensor) -> ClientResult:
        g, per_step = grad_fn(params, data)
        loss = _sample_weighted_loss(per_step, data.mask)
        return ClientResult(g, data.mask.sum(), state, {"loss": loss})

    return update


def local_sgd_update(model: FunctionalModel, lr: float, epochs: int = 1) -> ClientUpdate:
    """FedAvg's local training: `epochs` passes of plain SGD (step size `lr`) over the
    client's batches in order; returns `params - local_params`. Padding steps have zero
    mask, hence zero loss and zero gradient, so they leave the local model unchanged."""

    def step_loss(params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
        per_step = model.masked_loss(params, x.unsqueeze(0), y.unsqueeze(0), mask.unsqueeze(0))
        return per_step.sum(), per_step.detach()

    grad_fn = grad(step_loss, has_aux=True)

    def update(params: torch.Tensor, data: Batches, state: ClientState, key: torch.Tensor) -> ClientResult:
        local = params
        first_epoch = []
        for epoch in range(epochs):
            for s in range(data.mask.shape[0]):
                g, loss = grad_fn(local, data.x[s], data.y[s], data.mask[s])
                local = local - lr * g
                if epoch == 0:
                    first_epoch.append(loss)
        loss = _sample_weighted_loss(torch.cat(first_epoch), data.mask)
        return ClientResult(params - local, data.mask.sum(), state, {"loss": loss})

    return update


def build_client_update(config: ClientConfig, model: FunctionalModel) -> ClientUpdate:
    """The client update named in the config."""
    if config.name == "local_sgd":
        return local_sgd_update(model, config.lr, config.epochs)
    return gradient_update(model)
