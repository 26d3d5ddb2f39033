"""A model seen as a pure function of one flat parameter vector, for torch.func."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from fedhive.models.losses import Loss

EVAL_CHUNK = 2048  # test rows per forward pass


class FunctionalModel:
    """Wraps a module so that `apply(flat_params, x)` runs it with parameters taken from a
    flat `[P]` vector. Flattening happens once; unflattening is views, so `vmap` over a
    `[K, P]` matrix of parameters works unchanged."""

    def __init__(self, module: nn.Module, loss: Loss):
        self.module = module
        self.loss = loss
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]
        self.num_params = sum(self.sizes)

    def initial_params(self) -> torch.Tensor:
        """The module's current parameters as one flat vector."""
        return nn.utils.parameters_to_vector(self.module.parameters()).detach().clone()

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: t.view(s) for n, t, s in zip(self.names, torch.split(flat, self.sizes), self.shapes)
        }

    def apply(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's output on x with parameters `flat`."""
        return functional_call(self.module, self.unflatten(flat), (x,))

    def masked_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
        """Per-step mean loss over real samples: x `[S, B, ...]` -> `[S]` (0 for empty steps)."""
        s, b = mask.shape
        out = self.apply(flat, x.reshape(s * b, *x.shape[2:]))
        per = self.loss.per_sample(out, y.reshape(s * b, *y.shape[2:])).reshape(s, b) * mask  # y may be [S, B, T]
        return per.sum(-1) / mask.sum(-1).clamp_min(1.0)

    @torch.no_grad()
    def evaluate(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(mean loss, accuracy) on a test set."""
        loss, correct = self.per_sample_eval(flat, x, y)
        return loss.mean().item(), correct.mean().item()

    @torch.no_grad()
    def per_sample_eval(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                        chunk: int = EVAL_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample (loss, correct) `[N]` each, in chunks of rows so that a large test
        set through a CNN does not hold all its activations at once."""
        losses, hits = [], []
        for xs, ys in zip(torch.split(x, chunk), torch.split(y, chunk)):
            out = self.apply(flat, xs)
            losses.append(self.loss.per_sample(out, ys))
            hits.append(self.loss.correct(out, ys))
        if not losses:
            return x.new_zeros(0), x.new_zeros(0)
        return torch.cat(losses), torch.cat(hits)
