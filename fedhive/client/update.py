"""Client updates as pure `torch.func` functions, run unchanged by every engine.

A client update maps `(global_params [P], batches, state, key) -> ClientResult`. Its
`update` is a pseudo-gradient: the server treats it like a gradient and steps against
it, so FedSGD returns the summed batch gradients and FedAvg returns `params - local`.
Nothing here loops over samples or knows which engine calls it, so `vmap` over a cohort
gives each client exactly its own result.

An update may carry a `cohort_sum` attribute: `(params, cohort_batches, coef) ->
(total, weights, metrics)`, giving `sum_k coef(w)_k update_k` for a whole padded cohort
at once, with its weights and per-client metrics. The gradient update has one (a
weighted sum of gradients is the gradient of the weighted sum of losses, so the cohort
goes through one forward/backward); wrappers that change the update must not copy it.
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
    """Mean loss per real sample from per-step means: `[S]` -> scalar, or `[K, S]` -> `[K]`."""
    n = mask.sum(-1)
    return (per_step * n).sum(-1) / n.sum(-1).clamp_min(1.0)


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

    update.cohort_sum = CohortSum(model)
    return update


class CohortSum:
    """The fused path of `gradient_update`: `(params, cohort_batches, coef) -> (total,
    weights, metrics)` with `total = sum_k coef(w)_k g_k` for a whole padded cohort, in
    one forward/backward. Exact: a weighted sum of gradients is the gradient of the
    weighted sum of losses. `loss` is the forward pass, the part worth compiling."""

    def __init__(self, model: FunctionalModel, loss: Callable | None = None):
        self.model = model
        self.loss = loss or self.weighted_loss

    def weighted_loss(self, params, x, y, mask, step_coef):
        """`(sum_s c_s loss_s, per-step losses)` over steps x `[N, B, ...]`."""
        per_step = self.model.masked_loss(params, x, y, mask)
        return (per_step * step_coef).sum(), per_step.detach()

    def compiled(self, compile: Callable[[Callable], Callable]) -> "CohortSum":
        """The same sum with its forward (hence its backward) compiled by `compile`."""
        return CohortSum(self.model, compile(self.weighted_loss))

    def __call__(self, params: torch.Tensor, data: Batches, coef: Callable[[torch.Tensor], torch.Tensor]):
        k, s = data.mask.shape[:2]
        weights = data.mask.sum((1, 2))
        step_coef = coef(weights).to(params.dtype).repeat_interleave(s)
        steps = Batches(*(t.flatten(0, 1) for t in data))  # [K*S, B, ...]: one big batch of steps
        real = steps.mask.amax(-1) > 0
        if not bool(real.all()):  # padding steps add nothing: leave them out of the pass
            steps, step_coef = Batches(*(t[real] for t in steps)), step_coef[real]
        # Plain autograd rather than torch.func: nothing per client is needed here, and
        # it is the cheapest path both eagerly and through torch.compile.
        leaf = params.detach().requires_grad_(True)
        objective, per_step = self.loss(leaf, *steps, step_coef)
        (total,) = torch.autograd.grad(objective, leaf)
        per_step = per_step.new_zeros(k * s).masked_scatter_(real, per_step)
        return total, weights, {"loss": _sample_weighted_loss(per_step.view(k, s), data.mask)}


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
