import math

import pytest
import torch

from fedhive.privacy.gaussian import clip_per_client, clip_rows, fixed_denominator_sum, gaussian_noise
from fedhive.server.chain import RoundContext, chain


def ctx(k: int, round: int = 0, seed: int = 0) -> RoundContext:
    return RoundContext(round=round, params=torch.zeros(3), weights=torch.ones(k), seed=seed)


def test_clipped_norm_is_bounded_and_small_rows_untouched():
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(50, 100, generator=g) * torch.logspace(-3, 3, 50).unsqueeze(1)
    clipped, norms = clip_rows(rows, 2.5)
    assert (torch.linalg.vector_norm(clipped, dim=1) <= 2.5 * (1 + 1e-6)).all()
    small = norms <= 2.5
    assert small.any() and torch.equal(clipped[small], rows[small])


def test_zero_update_is_a_noop():
    out, norms = clip_rows(torch.zeros(2, 5), 1.0)
    assert torch.equal(out, torch.zeros(2, 5)) and torch.equal(norms, torch.zeros(2))
    dp = chain(clip_per_client(1.0), fixed_denominator_sum(4.0), gaussian_noise(0.0))
    agg, _ = dp.update(torch.zeros(3, 5), dp.init(torch.zeros(5)), ctx(3))
    assert torch.equal(agg, torch.zeros(5))


def test_nonfinite_row_is_dropped_not_clipped_into_the_sum():
    rows = torch.tensor([[3.0, 4.0], [float("nan"), 1.0], [0.3, 0.4]])
    c = ctx(3)
    dp = chain(clip_per_client(1.0), fixed_denominator_sum(2.0))
    agg, _ = dp.update(rows, dp.init(torch.zeros(2)), c)
    assert torch.allclose(agg, torch.tensor([0.45, 0.6]))  # ([0.6, 0.8] + [0.3, 0.4]) / 2
    assert c.metrics["dropped"] == 1 and c.metrics["dp_clipped"] == pytest.approx(1 / 3)


def test_fixed_denominator_does_not_follow_the_cohort():
    agg, _ = fixed_denominator_sum(10.0).update(torch.ones(4, 2), (), ctx(4))
    assert torch.allclose(agg, torch.full((2,), 0.4))


def test_noise_std_matches_and_is_keyed():
    t = gaussian_noise(0.3)
    draws = [t.update(torch.zeros(50_000), (), ctx(1, round=r, seed=7))[0] for r in range(4)]
    std = torch.cat(draws).std().item()
    assert abs(std - 0.3) / 0.3 < 0.02
    again, _ = t.update(torch.zeros(50_000), (), ctx(1, round=2, seed=7))
    assert torch.equal(again, draws[2]) and not torch.equal(draws[1], draws[2])


def test_noise_is_added_once_to_the_sum():
    # std z*S on the sum, then / n: the mean's noise std is z*S/n.
    z, s, n = 1.5, 2.0, 8.0
    dp = chain(clip_per_client(s), fixed_denominator_sum(n), gaussian_noise(z * s / n))
    agg, _ = dp.update(torch.zeros(5, 100_000), dp.init(torch.zeros(100_000)), ctx(5))
    assert math.isclose(agg.std().item(), z * s / n, rel_tol=0.02)
