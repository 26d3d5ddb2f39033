"""The containers engines receive: a cohort's batches padded to a common shape with a
sample mask (`Batches`), or packed one client after another with no padding steps (`Steps`)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class _BatchFields(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    sizes: torch.Tensor


class Batches(_BatchFields):
    """Client data padded to a common shape.

    For a cohort of K clients: `x` is `[K, S, B, ...]` (S steps of B samples), `y` is
    `[K, S, B]` and `mask` is `[K, S, B]` with 1.0 for real samples and 0.0 for padding.
    `sizes` `[K]` is each client's number of training samples n_k, its aggregation
    weight: by default the real samples in the mask, more when the draw holds only the
    steps a client takes (`client.steps`) rather than its whole epoch. One client's slice
    drops the leading K. A NamedTuple so `torch.func.vmap` maps it.
    """

    __slots__ = ()

    def __new__(cls, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                sizes: torch.Tensor | None = None) -> "Batches":
        if sizes is None:
            sizes = mask.flatten(start_dim=mask.dim() - 2).sum(-1)
        return super().__new__(cls, x, y, mask, sizes)

    def client(self, k: int) -> "Batches":
        """The k-th client's slice, without its padding steps."""
        steps = int(self.mask[k].amax(dim=-1).sum().item())
        return Batches(self.x[k, :steps], self.y[k, :steps], self.mask[k, :steps], self.sizes[k])

    def to(self, device: torch.device | str) -> "Batches":
        return Batches(*(t.to(device) for t in self))


def trim_steps(b: Batches) -> Batches:
    """Drop trailing steps that are padding for every row."""
    steps = int((b.mask.amax(dim=-1) > 0).sum(-1).max().item()) if b.mask.numel() else 0
    return b._replace(x=b.x[:, :steps], y=b.y[:, :steps], mask=b.mask[:, :steps])


def concat_batches(chunks: list[Batches]) -> Batches:
    """Chunks of one cohort padded to a common step count and stacked."""
    steps = max(c.mask.shape[1] for c in chunks)

    def pad(t: torch.Tensor) -> torch.Tensor:
        extra = steps - t.shape[1]
        return t if extra == 0 else torch.cat([t, t.new_zeros(t.shape[0], extra, *t.shape[2:])], 1)

    x, y, mask = (torch.cat([pad(getattr(c, f)) for c in chunks]) for f in ("x", "y", "mask"))
    return Batches(x, y, mask, torch.cat([c.sizes for c in chunks]))


class Steps(NamedTuple):
    """A cohort's batches with no padding steps: client k's `steps[k]` batches follow
    client k-1's. `x` is `[N, B, ...]` with N = steps.sum(), `y` is `[N, B]`, `mask` is
    `[N, B]` (0.0 for padding samples within a step) or None when every sample is real;
    `steps` is `[K]` int64. The layout of the fused gradient path: nothing to fill,
    mask or remove."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None
    steps: torch.Tensor

    def to(self, device: torch.device | str) -> "Steps":
        mask = None if self.mask is None else self.mask.to(device)
        return Steps(self.x.to(device), self.y.to(device), mask, self.steps.to(device))

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self if t is not None)

    def step_samples(self) -> torch.Tensor:
        """Real samples per step, `[N]`."""
        if self.mask is None:
            return self.x.new_full((self.x.shape[0],), float(self.x.shape[1]))
        return self.mask.sum(-1)

    def owner(self) -> torch.Tensor:
        """The cohort position each step belongs to, `[N]`."""
        return torch.repeat_interleave(torch.arange(len(self.steps), device=self.steps.device), self.steps)


def packed(b: Batches) -> Steps:
    """The padded cohort `b` without its padding steps (a client's steps keep their order)."""
    real = b.mask.amax(-1) > 0
    mask = b.mask[real]
    return Steps(b.x[real], b.y[real], None if bool((mask == 1).all()) else mask, real.sum(1))
