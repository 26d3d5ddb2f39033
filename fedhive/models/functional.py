"""A model seen as a pure function of one flat parameter vector, for torch.func."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call

from fedhive.errors import UserError
from fedhive.models.losses import Loss, logit_head

EVAL_CHUNK = 2048  # test rows per forward pass


class FunctionalModel:
    """Wraps a module so that `apply(flat_params, x)` runs it with parameters taken from a
    flat `[P]` vector. Flattening happens once; unflattening is views, so `vmap` over a
    `[K, P]` matrix of parameters works unchanged. Losses and hits are computed from the
    logits when the module ends in its loss's squashing layer (`losses.logit_head`);
    `apply` still gives the module's own output.

    Floating-point buffers (batch-norm running statistics) are the last `num_stats`
    coordinates of the vector, so the server aggregates them like parameters. A model
    with such buffers is run in eval mode (running statistics) everywhere except
    `train_losses`, which normalizes with the batch's statistics and returns the updated
    running ones; a model without them runs exactly as it always did."""

    def __init__(self, module: nn.Module, loss: Loss):
        self.module = module
        self.loss = loss
        params = list(module.named_parameters())
        stats = [(n, b) for n, b in module.named_buffers() if b.is_floating_point()]
        self.names = [n for n, _ in params + stats]
        self.shapes = [t.shape for _, t in params + stats]
        self.sizes = [t.numel() for _, t in params + stats]
        self.num_params = sum(self.sizes)
        self.num_stats = sum(b.numel() for _, b in stats)
        self.stat_names = [n for n, _ in stats]
        # Counters (num_batches_tracked) are only read by momentum-free batch norm: refused below.
        self.counters = {n: b for n, b in module.named_buffers() if not b.is_floating_point()}
        cumulative = [n for n, m in module.named_modules()
                      if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats and m.momentum is None]
        if cumulative:
            raise UserError(f"model.name: batch norm {cumulative[0]!r} has momentum=None (a cumulative average "
                             "over all batches ever seen); give it a momentum")
        self._scoring = logit_head(module, loss) or (module, loss)

    def initial_params(self) -> torch.Tensor:
        """The module's current parameters, then its running statistics, as one flat vector."""
        named = {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}
        return torch.cat([named[n].detach().reshape(-1) for n in self.names]).clone()

    @contextmanager
    def _mode(self, training: bool) -> Iterator[None]:
        """The module in train or eval mode; a model without running statistics is left as is."""
        if not self.num_stats:
            yield
            return
        was = self.module.training
        self.module.train(training)
        try:
            yield
        finally:
            self.module.train(was)

    def _call(self, module: nn.Module, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with self._mode(False):
            return functional_call(module, self.unflatten(flat), (x,))

    def with_stats(self, flat: torch.Tensor, stats: torch.Tensor, keep: torch.Tensor | float = 1.0) -> torch.Tensor:
        """`flat` with its running statistics set to `stats` where `keep` is 1 (a 0/1 gate)."""
        if not self.num_stats:
            return flat
        weights, old = flat[:-self.num_stats], self.stats_of(flat)
        return torch.cat([weights, keep * stats + (1 - keep) * old])

    def stats_of(self, flat: torch.Tensor) -> torch.Tensor:
        """The running-statistics coordinates of a `[P]` vector (empty without any)."""
        return flat[flat.shape[-1] - self.num_stats:]

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: t.view(s) for n, t, s in zip(self.names, torch.split(flat, self.sizes), self.shapes)
        }

    def apply(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's output on x with parameters `flat`."""
        return self._call(self.module, flat, x)

    def scored(self, flat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, Loss]:
        """(the output the loss is computed from, that loss): logits where possible."""
        module, loss = self._scoring
        return self._call(module, flat, x), loss

    def train_losses(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                     mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """`masked_loss` in train mode, and the running statistics `[num_stats]` the batch
        leaves (empty for a model without any). Batch norm updates its running statistics
        in place: here on detached copies, so nothing under `grad` is written to."""
        if not self.num_stats:
            return self.masked_loss(flat, x, y, mask), self.stats_of(flat)
        tensors = self.unflatten(flat)
        # Fresh tensors shaped like the statistics but batched whenever x is (under vmap with
        # shared params, batch norm refuses to write a client's statistics into unbatched ones).
        like_x = torch.zeros_like(x.reshape(-1)[:1], dtype=torch.bool)
        stats = {n: torch.where(like_x, 0.0, tensors[n].detach()) for n in self.stat_names}
        counters = {n: c.clone() for n, c in self.counters.items()}
        module, loss = self._scoring
        s, b = y.shape[:2]
        with self._mode(True):
            out = functional_call(module, {**tensors, **stats, **counters}, (x.reshape(s * b, *x.shape[2:]),))
        per = loss.per_sample(out, y.reshape(s * b, *y.shape[2:])).reshape(s, b)
        return _masked_mean(per, mask), torch.cat([stats[n].reshape(-1) for n in self.stat_names])

    def sample_losses(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample losses: x `[S, B, ...]` -> `[S, B]` (y may be `[S, B, T]`: a sequence's
        loss is one per sample)."""
        s, b = y.shape[:2]
        out, loss = self.scored(flat, x.reshape(s * b, *x.shape[2:]))
        return loss.per_sample(out, y.reshape(s * b, *y.shape[2:])).reshape(s, b)

    def masked_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Per-step mean loss over real samples: x `[S, B, ...]` -> `[S]` (0 for empty
        steps); `mask` None means every sample is real."""
        return _masked_mean(self.sample_losses(flat, x, y), mask)

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


def _masked_mean(per: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """`[S, B]` per-sample losses -> `[S]` mean over real samples (0 for empty steps)."""
    if mask is None:
        return per.mean(-1)
    per = per * mask
    return per.sum(-1) / mask.sum(-1).clamp_min(1.0)
