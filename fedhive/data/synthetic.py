"""The reference task: 2-feature linearly separable binary data, drawn fresh every round."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive import rng
from fedhive.config import DataConfig
from fedhive.data.batches import Batches

TRUE_WEIGHTS = (0.3, 0.2, 0.8)  # bias, x1, x2


def label(x: torch.Tensor) -> torch.Tensor:
    """1.0 where w·[1, x1, x2] > 0 for the true weights, else 0.0."""
    b, w1, w2 = TRUE_WEIGHTS
    return (b + w1 * x[..., 0] + w2 * x[..., 1] > 0).to(x.dtype)


class ReferenceTask:
    """A universe of clients; client c in round r draws randint(min, max+1) batches of
    `batch_size` points with x ~ U[-1, 1]^2, keyed by (seed, r, c), so its data is fresh
    every round and independent of how clients are grouped."""

    num_features = 2
    num_classes = 2

    def __init__(self, config: DataConfig, seed: int):
        self.config = config
        self.seed = seed
        self.num_clients = config.clients

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        """The cohort's data, padded to its longest client: x `[K, S, B, 2]`."""
        cfg = self.config
        gens = [rng.generator(self.seed, round, int(c), "data") for c in client_ids]
        steps = [self._steps(g) for g in gens]
        k, s_max, b = len(gens), max(steps, default=0), cfg.batch_size
        x = torch.zeros(k, s_max, b, self.num_features)
        mask = torch.zeros(k, s_max, b)
        for i, (g, s) in enumerate(zip(gens, steps)):
            torch.rand(s, b, self.num_features, generator=g, out=x[i, :s])
            mask[i, :s] = 1.0
        x.mul_(2).sub_(1)
        x.mul_(mask.unsqueeze(-1))  # padding stays exactly zero
        return Batches(x, label(x) * mask, mask)

    def _steps(self, g: torch.Generator) -> int:
        """A client's batch count: the first draw of its round's data generator."""
        return int(torch.randint(self.config.batches.min, self.config.batches.max + 1, (), generator=g))

    def client_samples(self, round: int, client_ids: Sequence[int]) -> list[int]:
        """Each client's sample count this round, without drawing its data (engines use it
        to balance work)."""
        gens = (rng.generator(self.seed, round, int(c), "data") for c in client_ids)
        return [self._steps(g) * self.config.batch_size for g in gens]

    def test_set(self, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh test set for this round: x `[N, 2]`, y `[N]`."""
        g = rng.generator(self.seed, round, rng.GLOBAL, "test")
        x = torch.rand(self.config.test_size, self.num_features, generator=g) * 2 - 1
        return x, label(x)


def build_dataset(config: DataConfig, seed: int) -> ReferenceTask:
    """The dataset named in the config."""
    return ReferenceTask(config, seed)
