"""Cohort sampling: sizes in range, distinct ids, keyed by round."""

import torch

from fedhive.config import CohortConfig
from fedhive.system.sampling import UniformCohort, sample_without_replacement


def test_cohort_sizes_cover_the_inclusive_range_and_ids_are_distinct():
    sampler = UniformCohort(CohortConfig(min=20, max=29), num_clients=1000, seed=0)
    sizes = set()
    for r in range(300):
        ids = sampler(r)
        sizes.add(len(ids))
        assert len(set(ids.tolist())) == len(ids) and 0 <= ids.min() and ids.max() < 1000
    assert sizes == set(range(20, 30))
    assert torch.equal(sampler(5), UniformCohort(CohortConfig(min=20, max=29), 1000, 0)(5))


def test_sampling_from_a_huge_universe_is_distinct_and_spread():
    g = torch.Generator().manual_seed(0)
    ids = sample_without_replacement(10_000_000, 10_000, g)
    assert len(ids) == 10_000 and len(set(ids.tolist())) == 10_000
    assert ids.max() > 9_000_000 and ids.min() < 1_000_000


def test_whole_universe_is_a_permutation():
    g = torch.Generator().manual_seed(0)
    assert sorted(sample_without_replacement(7, 7, g).tolist()) == list(range(7))
