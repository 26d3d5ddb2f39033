"""The padded container every engine receives: a cohort's batches plus a sample mask."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Batches(NamedTuple):
    """Client data padded to a common shape.

    For a cohort of K clients: `x` is `[K, S, B, ...]` (S steps of B samples), `y` is
    `[K, S, B]` and `mask` is `[K, S, B]` with 1.0 for real samples and 0.0 for padding.
    One client's slice drops the leading K. A NamedTuple so `torch.func.vmap` maps it.
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor

    def client(self, k: int) -> "Batches":
        """The k-th client's slice, without its padding steps."""
        steps = int(self.mask[k].amax(dim=-1).sum().item())
        return Batches(self.x[k, :steps], self.y[k, :steps], self.mask[k, :steps])

    def to(self, device: torch.device | str) -> "Batches":
        return Batches(*(t.to(device) for t in self))

    @property
    def samples(self) -> torch.Tensor:
        """Real samples per client: `[K]` for a cohort, a scalar for one client."""
        return self.mask.flatten(start_dim=self.mask.dim() - 2).sum(-1)
