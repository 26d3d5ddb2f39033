"""Cohort samplers: which clients take part in round r, from the keyed generator."""

from __future__ import annotations

import torch

from fedhive import rng
from fedhive.config import CohortConfig


def sample_without_replacement(n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """k distinct ids from range(n). Costs O(k) when k << n, so a universe of millions of
    clients is never materialised."""
    if k * 4 > n:
        return torch.randperm(n, generator=g)[:k]
    chosen: dict[int, None] = {}
    while len(chosen) < k:
        for c in torch.randint(0, n, (2 * (k - len(chosen)),), generator=g).tolist():
            chosen.setdefault(c, None)
            if len(chosen) == k:
                break
    return torch.tensor(list(chosen), dtype=torch.int64)


class UniformCohort:
    """Each round: K ~ randint(min, max) inclusive, then K distinct clients uniformly."""

    def __init__(self, config: CohortConfig, num_clients: int, seed: int):
        self.config, self.num_clients, self.seed = config, num_clients, seed

    def __call__(self, round: int) -> torch.Tensor:
        g = rng.generator(self.seed, round, rng.GLOBAL, "cohort")
        k = int(torch.randint(self.config.min, self.config.max + 1, (), generator=g))
        return sample_without_replacement(self.num_clients, k, g)


class PoissonCohort:
    """Poisson sampling: each client takes part independently with probability q (`rate`),
    as DP-SGD's amplification-by-sampling analysis assumes. Drawn as K ~ Binomial(N, q) then
    K distinct clients uniformly, which has the same law and costs O(K), not O(N)."""

    def __init__(self, config: CohortConfig, num_clients: int, seed: int):
        self.rate, self.num_clients, self.seed = config.poisson_rate, num_clients, seed

    @property
    def expected_size(self) -> float:
        return self.rate * self.num_clients

    def __call__(self, round: int) -> torch.Tensor:
        g = rng.generator(self.seed, round, rng.GLOBAL, "cohort")
        n = torch.tensor(float(self.num_clients), dtype=torch.float64)
        k = int(torch.binomial(n, torch.tensor(self.rate, dtype=torch.float64), generator=g))
        return sample_without_replacement(self.num_clients, k, g)


def build_sampler(config: CohortConfig, num_clients: int, seed: int) -> UniformCohort | PoissonCohort:
    """The cohort sampler named in the config."""
    return (PoissonCohort if config.sampler == "poisson" else UniformCohort)(config, num_clients, seed)
