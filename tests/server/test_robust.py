"""Robust aggregates and the norm bound on known inputs; non-finite rows dropped and counted."""

from __future__ import annotations

import pytest
import torch

from fedhive.server.aggregate import mean, sum_updates, weighted_mean
from fedhive.server.chain import RoundContext, chain
from fedhive.server.optim import sgd
from fedhive.server.robust import bulyan, bulyan_select, krum, krum_scores, median, multi_krum, norm_bound, trimmed_mean

NAN, INF = float("nan"), float("inf")


def _apply(t, updates, weights=None):
    updates = torch.as_tensor(updates, dtype=torch.float32)
    w = torch.ones(len(updates)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    ctx = RoundContext(0, torch.zeros(updates.shape[1]), w)
    out, _ = t.update(updates, t.init(ctx.params), ctx)
    return out, ctx.metrics


def test_median_is_coordinate_wise_and_averages_the_middle_pair():
    out, _ = _apply(median(), [[1, 10], [2, -5], [100, 0]])
    assert out.tolist() == [2, 0]
    out, _ = _apply(median(), [[1, 10], [2, -5], [100, 0], [4, 1]])
    assert out.tolist() == [3, 0.5]


def test_trimmed_mean_drops_floor_beta_k_from_each_end():
    rows = [[v, -v] for v in (1, 2, 3, 4, 1000)]
    out, _ = _apply(trimmed_mean(0.2), rows)  # cut 1 each end: mean of 2, 3, 4
    assert out.tolist() == [3, -3]
    out, _ = _apply(trimmed_mean(0.1), rows)  # floor(0.5) = 0: plain mean
    assert out.tolist() == [202, -202]
    with pytest.raises(ValueError, match="beta"):
        trimmed_mean(0.5)


def test_krum_scores_and_choice():
    rows = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    # f = 1: each row sums its K - f - 2 = 1 nearest squared distance
    assert krum_scores(rows, 1).tolist() == [1.0, 1.0, 1.0, 181.0]
    # f = 0: two nearest: 0 -> 1 + 1; 1 -> 1 + 2; 2 -> 1 + 2; outlier -> 181 + 181
    assert krum_scores(rows, 0).tolist() == [2.0, 3.0, 3.0, 362.0]
    out, _ = _apply(krum(0), rows)
    assert out.tolist() == [0, 0]
    out, _ = _apply(multi_krum(0, m=3), rows)  # the three clustered rows
    torch.testing.assert_close(out, torch.tensor([1 / 3, 1 / 3]))
    out, _ = _apply(multi_krum(1), rows)  # m = K - f = 3
    torch.testing.assert_close(out, torch.tensor([1 / 3, 1 / 3]))


def test_krum_ignores_a_far_attacker_that_moves_the_mean():
    honest = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)) * 0.1 + 1
    rows = torch.cat([honest, torch.full((2, 5), -50.0)])
    out, _ = _apply(krum(2), rows)
    assert any(torch.equal(out, h) for h in honest)
    assert (_apply(mean(), rows)[0] < 0).all()


def test_multi_krum_weights_the_selected_rows_by_sample_count_when_asked():
    rows = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [10.0, 10.0]]
    out, _ = _apply(multi_krum(0, m=3, weighted=True), rows, weights=[1, 2, 3, 100])
    torch.testing.assert_close(out, torch.tensor([2 / 6, 3 / 6]))  # (1*r0 + 2*r1 + 3*r2) / 6; r3 not selected
    out, _ = _apply(multi_krum(0, m=3), rows, weights=[1, 2, 3, 100])
    torch.testing.assert_close(out, torch.tensor([1 / 3, 1 / 3]))


# K = 7, f = 1: theta = 5 selections, beta = 3 values around the median. The second
# column mirrors the first, so squared distances are twice the first column's.
BULYAN_ROWS = [[v, -v] for v in (0.0, 3.0, 4.0, 13.0, 14.0, 17.0, 18.0)]


def test_bulyan_reruns_krum_on_the_remaining_rows():
    # Krum, n = r - f - 2 nearest of the r rows left (first index wins a tie), scores / 2:
    # r=7, n=4: 390 231 198 123 126 195 238 -> 13 (row 3)
    # r=6, n=3: 0:221 3:131 4:117 14:125 17:179 18:213 -> 4 (row 2)
    # r=5, n=2: 0:205 3:130 14:25 17:10 18:17 -> 17 (row 5)
    # r=4, n=1: 0:9 3:9 14:16 18:16 -> 0 (row 0)
    # r=3, n=1: 3:121 14:16 18:16 -> 14 (row 4)
    rows = torch.tensor(BULYAN_ROWS)
    assert bulyan_select(rows, 1).tolist() == [3, 2, 5, 0, 4]
    # Scoring once keeps the 5 best first-round scores, {13, 14, 17, 4, 3}: another set.
    assert set(krum_scores(rows, 1).argsort()[:5].tolist()) == {3, 4, 5, 2, 1}
    # S = {0, 4, 13, 14, 17}: median 13; the 3 closest values 13, 14, 17 -> 44 / 3.
    out, _ = _apply(bulyan(1), BULYAN_ROWS)
    torch.testing.assert_close(out, torch.tensor([44 / 3, -44 / 3]))


def test_bulyan_ignores_far_attackers():
    honest = torch.randn(9, 4, generator=torch.Generator().manual_seed(1)) * 0.1 + 1
    rows = torch.cat([honest, torch.full((2, 4), 80.0)])
    out, _ = _apply(bulyan(2), rows)
    assert ((out - 1).abs() < 0.3).all()


@pytest.mark.parametrize(
    "make", [sum_updates, mean, weighted_mean, median, lambda: trimmed_mean(0.2), lambda: krum(1),
             lambda: multi_krum(1, 2), lambda: multi_krum(1, 2, weighted=True), lambda: bulyan(1)],
)
def test_every_aggregate_drops_and_counts_nonfinite_rows(make):
    clean = [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    bad = clean + [[NAN, 0.0], [INF, 1.0], [0.0, -INF]]
    out, metrics = _apply(make(), bad, weights=[1] * 5 + [7, 7, 7])
    expected, _ = _apply(make(), clean)
    assert metrics["dropped"] == 3
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected)


def test_all_rows_dropped_gives_a_zero_update():
    out, metrics = _apply(median(), [[NAN, 1.0], [1.0, INF]])
    assert out.tolist() == [0, 0] and metrics["dropped"] == 2


def test_norm_bound_scales_long_updates_and_counts_them():
    out, metrics = _apply(norm_bound(5.0), [[3.0, 4.0], [30.0, 40.0], [0.0, 0.0], [0.3, 0.4]])
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0], [3.0, 4.0], [0.0, 0.0], [0.3, 0.4]]))
    assert metrics["clipped"] == 1


def test_norm_bound_keeps_nonfinite_rows_for_the_aggregate_to_drop():
    t = chain(("bound", norm_bound(1.0)), ("agg", mean()))
    out, metrics = _apply(t, [[3.0, 4.0], [NAN, 0.0], [INF, 0.0]])
    torch.testing.assert_close(out, torch.tensor([0.6, 0.8]))
    assert metrics["dropped"] == 2


def test_chain_rejects_a_norm_bound_after_the_aggregate():
    with pytest.raises(ValueError, match="cannot come after"):
        chain(("agg", median()), ("bound", norm_bound(1.0)))
    with pytest.raises(ValueError, match="cannot come after"):
        chain(("agg", median()), ("opt", sgd(1.0)), ("bound", norm_bound(1.0)))
