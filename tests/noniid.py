"""A non-IID variant of the reference task for algorithm tests: feature skew by client.

Client c only sees x1 in the quarter slab q = c mod 4 of [-1, 1] (x2 stays uniform), so
clients disagree about where the boundary matters and no single client sees it all.
The test set is the reference's uniform one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive.data.batches import Batches
from fedhive.data.synthetic import ReferenceTask, label
from fedhive.experiment import Experiment


class SkewedTask(ReferenceTask):
    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        b = super().cohort_batches(round, client_ids)
        slab = torch.tensor([int(c) % 4 for c in client_ids], dtype=b.x.dtype).view(-1, 1, 1)
        x = b.x.clone()
        x[..., 0] = ((x[..., 0] + 1) / 4 + slab * 0.5 - 1) * b.mask  # [-1, 1] -> quarter q
        return Batches(x, label(x) * b.mask, b.mask)


def skewed_experiment(config) -> Experiment:
    """An Experiment for `config` whose clients hold the skewed data."""
    exp = Experiment(config)
    exp.dataset = SkewedTask(config.data, config.seed)
    return exp
