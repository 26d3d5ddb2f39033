"""Local SGD written out with plain autograd, one batch at a time: the reference the
algorithm tests compare the functional client updates with."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def batch_gradient(model, params: torch.Tensor, data, b: int) -> torch.Tensor:
    """The gradient of batch `b`'s mean loss at `params`."""
    leaf = params.detach().requires_grad_(True)
    loss = model.masked_loss(leaf, data.x[b : b + 1], data.y[b : b + 1], data.mask[b : b + 1]).sum()
    return torch.autograd.grad(loss, leaf)[0]


def cycled(data, steps: int) -> list[int]:
    """`steps` batch indices cycling through the client's batches."""
    return [s % data.x.shape[0] for s in range(steps)]


def local_sgd(model, start: torch.Tensor, data, batches: Iterable[int], lr: float,
              pull: Callable[[torch.Tensor], torch.Tensor] | None = None,
              frozen: torch.Tensor | None = None) -> torch.Tensor:
    """`y <- y - lr (grad + pull(y))` over `batches`, coordinates where `frozen` is True kept."""
    y = start.clone()
    for b in batches:
        g = batch_gradient(model, y, data, b) + (pull(y) if pull is not None else 0)
        y = y - lr * (g if frozen is None else torch.where(frozen, 0.0, g))
    return y
