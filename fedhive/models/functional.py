"""A model seen as a pure function of one flat parameter vector, for torch.func."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from fedhive.models.losses import Loss, logit_head

EVAL_CHUNK = 2048  # test rows per forward pass


class FunctionalModel:
    """Wraps a module so that `apply(flat_params, x)` runs it with parameters taken from a
    flat `[P]` vector. Flattening happens once; unflattening is views, so `vmap` over a
    `[K, P]` matrix of parameters works unchanged. Losses and hits are computed from the
    logits when the module ends in its loss's squashing layer (`losses.logit_head`);
    `apply` still gives the module's own output."""

    def __init__(self, module: nn.Module, loss: Loss):
        self.module = module
        self.loss = loss
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]
        self.num_params = sum(self.sizes)
        self._scoring = logit_head(module, loss) or (module, loss)

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

    def scored(self, flat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, Loss]:
        """(the output the loss is computed from, that loss): logits where possible."""
        module, loss = self._scoring
        return functional_call(module, self.unflatten(flat), (x,)), loss

    def sample_losses(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample losses: x `[S, B, ...]` -> `[S, B]` (y may be `[S, B, T]`: a sequence's
        loss is one per sample)."""
        s, b = y.shape[:2]
        out, loss = self.scored(flat, x.reshape(s * b, *x.shape[2:]))
        return loss.per_sample(out, y.reshape(s * b, *y.shape[2:])).reshape(s, b)

    def masked_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None):
        """Per-step mean loss over real samples: x `[S, B, ...]` -> `[S]` (0 for empty
        steps); `mask` None means every sample is real."""
        per = self.sample_losses(flat, x, y)
        if mask is None:
            return per.mean(-1)
        per = per * mask
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
            out, loss = self.scored(flat, xs)
            losses.append(loss.per_sample(out, ys))
            hits.append(loss.correct(out, ys))
        if not losses:
            return x.new_zeros(0), x.new_zeros(0)
        return torch.cat(losses), torch.cat(hits)
