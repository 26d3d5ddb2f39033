import pytest
import torch

from fedhive.config import CohortConfig, build_config
from fedhive.errors import UserError
from fedhive.system.sampling import PoissonCohort, build_sampler


def test_poisson_cohort_is_keyed_distinct_and_of_expected_size():
    s = build_sampler(CohortConfig(sampler="poisson", rate=0.05), 400, seed=3)
    assert isinstance(s, PoissonCohort) and s.expected_size == 20
    sizes = []
    for r in range(400):
        ids = s(r)
        assert len(set(ids.tolist())) == len(ids) and (ids < 400).all()
        sizes.append(len(ids))
    assert torch.equal(s(7), s(7))
    mean = sum(sizes) / len(sizes)
    assert abs(mean - 20) < 4 * (400 * 0.05 * 0.95 / 400) ** 0.5
    assert min(sizes) != max(sizes)


def test_poisson_needs_rate():
    with pytest.raises(UserError, match="cohort: rate is required by sampler=poisson"):
        build_config({}, ["cohort.sampler=poisson"])
    with pytest.raises(UserError, match="cohort.rate"):
        build_config({}, ["cohort.sampler=poisson", "cohort.rate=1.5"])
