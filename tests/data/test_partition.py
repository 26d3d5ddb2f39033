"""Partitioners: exact cover, the statistics their parameters promise, determinism."""

import numpy as np
import pytest

from fedhive.config import PartitionConfig, build_config
from fedhive.data import partition as P
from fedhive.errors import UserError

LABELS = np.repeat(np.arange(10), 1000)  # 10 classes x 1000


def assert_exact_cover(part: P.Partition, n: int) -> None:
    assert part.offsets[0] == 0 and part.offsets[-1] == n
    assert np.all(np.diff(part.offsets) >= 0)
    np.testing.assert_array_equal(np.sort(part.order), np.arange(n))  # every sample exactly once


@pytest.mark.parametrize("config", [
    PartitionConfig(name="iid"),
    PartitionConfig(name="dirichlet", alpha=0.1),
    PartitionConfig(name="dirichlet", alpha=100.0),
    PartitionConfig(name="dirichlet_classes", alpha=0.5),
    PartitionConfig(name="dirichlet_classes", alpha=0.5, balanced=True),
    PartitionConfig(name="label_quantity", labels_per_client=1),
    PartitionConfig(name="label_quantity", labels_per_client=3),
    PartitionConfig(name="shards", shards_per_client=2),
    PartitionConfig(name="quantity_skew", sizes="lognormal", sigma=1.0),
    PartitionConfig(name="quantity_skew", sizes="power_law", exponent=1.5),
    PartitionConfig(name="similarity", similarity=0.1),
    PartitionConfig(name="similarity", similarity=1.0),
])
def test_exact_cover_and_determinism(config):
    a = P.partition(config, LABELS, 50, seed=3)
    assert a.num_clients == 50
    assert_exact_cover(a, len(LABELS))
    b = P.partition(config, LABELS, 50, seed=3)
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    c = P.partition(config, LABELS, 50, seed=4)
    assert not (np.array_equal(a.order, c.order) and np.array_equal(a.offsets, c.offsets))


def test_iid_sizes_differ_by_at_most_one():
    part = P.iid(103, 10, np.random.default_rng(0))
    assert sorted(part.sizes.tolist()) == [10] * 7 + [11] * 3


def label_shares(part, labels, k=10):
    return np.stack([np.bincount(labels[part.client(i)], minlength=k) for i in range(part.num_clients)])


def test_dirichlet_client_label_proportions_follow_dirichlet_moments():
    # q_i ~ Dir(alpha p) with p = 1/10: E q_ik = 0.1, Var q_ik = 0.09 / (alpha + 1); drawing
    # n = 60 samples by q_i adds about 0.09 / n of multinomial variance.
    labels = np.repeat(np.arange(10), 6000)
    part = P.dirichlet(labels, 1000, 1.0, np.random.default_rng(0))
    assert np.all(part.sizes == 60)
    props = label_shares(part, labels) / 60.0
    np.testing.assert_allclose(props.mean(0), 0.1)  # every sample assigned, equal sizes
    expected = 0.09 / 2 + 0.09 / 60
    assert abs(props.var() / expected - 1) < 0.15


def entropy_bits(part, labels):
    p = label_shares(part, labels) / part.sizes[:, None]
    return float(np.mean(-np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0), 1)))


def test_dirichlet_alpha_controls_label_entropy_even_for_many_clients():
    near_iid = P.dirichlet(LABELS, 20, 100.0, np.random.default_rng(0))
    skewed = P.dirichlet(LABELS, 1000, 0.1, np.random.default_rng(0))  # 10 samples each, no redraws
    assert entropy_bits(near_iid, LABELS) > 3.2  # log2 10 = 3.32
    assert entropy_bits(skewed, LABELS) < 1.0


def test_dirichlet_classes_shares_follow_dirichlet_moments():
    # Client j's share of class k is Beta(alpha, (C-1) alpha): mean 1/C, var (1/C)(1-1/C)/(C alpha + 1).
    labels = np.repeat(np.arange(10), 20000)
    c, alpha = 20, 0.5
    part = P.dirichlet_classes(labels, c, alpha, 1, np.random.default_rng(1))
    shares = label_shares(part, labels) / 20000.0  # [C, K]
    np.testing.assert_allclose(shares.sum(0), 1.0)
    expected_var = (1 / c) * (1 - 1 / c) / (c * alpha + 1)
    assert abs(shares.var() / expected_var - 1) < 0.25
    assert P.dirichlet_classes(LABELS, 20, 0.1, 10, np.random.default_rng(0)).sizes.min() >= 10


def test_dirichlet_classes_impossible_min_size_is_a_user_error(monkeypatch):
    monkeypatch.setattr(P, "MAX_DIRICHLET_TRIES", 20)
    with pytest.raises(UserError, match="no Dirichlet.alpha=0.01. draw in 20"):
        P.dirichlet_classes(LABELS, 1000, 0.01, 10, np.random.default_rng(0))


def test_balanced_dirichlet_classes_deals_no_class_to_a_client_at_n_over_c():
    # NIID-Bench's rule, checked class by class in the order they are dealt
    part = P.dirichlet_classes(LABELS, 10, 0.1, 10, np.random.default_rng(0), balanced=True)
    counts = label_shares(part, LABELS)  # [C, K]
    before = np.cumsum(counts, 1) - counts  # what each client held when class k was dealt
    assert np.all(counts[before >= len(LABELS) / 10] == 0)
    assert (before >= len(LABELS) / 10).any()  # the rule was exercised
    free = P.dirichlet_classes(LABELS, 10, 0.1, 10, np.random.default_rng(0))
    assert part.sizes.max() < free.sizes.max()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_label_quantity_gives_each_client_k_classes_split_equally(k):
    labels = np.repeat(np.arange(10), 997)
    part = P.label_quantity(labels, 10, k, np.random.default_rng(k))
    counts = label_shares(part, labels)
    holds = counts > 0
    assert np.all(holds.sum(1) == k)
    assert np.all(holds[np.arange(10), np.arange(10)])  # client i holds class i mod 10
    for c in range(10):  # a class is cut into equal parts among its holders
        parts = counts[holds[:, c], c]
        assert parts.sum() == 997 and parts.max() - parts.min() <= 1


def test_label_quantity_user_errors():
    with pytest.raises(UserError, match="labels_per_client: 11 exceeds the dataset's 10 classes"):
        P.label_quantity(LABELS, 10, 11, np.random.default_rng(0))
    with pytest.raises(UserError, match="needs a client for each of the 10 classes, got 5"):
        P.label_quantity(LABELS, 5, 2, np.random.default_rng(0))


def test_dirichlet_sizes_follow_dirichlet_moments_and_min_size():
    # client shares ~ Dir(alpha 1_C): each is Beta(alpha, (C-1) alpha), var (1/C)(1-1/C)/(C alpha + 1)
    c, alpha = 400, 1.0
    sizes = P.skewed_sizes(10_000_000, c, "dirichlet", 1.0, 1.5, 1, np.random.default_rng(0), alpha)
    assert sizes.sum() == 10_000_000
    assert abs((sizes / 1e7).var() / ((1 / c) * (1 - 1 / c) / (c * alpha + 1)) - 1) < 0.2
    assert P.dirichlet_sizes(60000, 10, 0.5, 10, np.random.default_rng(0)).min() >= 10


def test_dirichlet_sizes_impossible_min_size_is_a_user_error(monkeypatch):
    monkeypatch.setattr(P, "MAX_DIRICHLET_TRIES", 20)
    with pytest.raises(UserError, match=r"no Dirichlet.alpha=0.01. sizes draw in 20"):
        P.dirichlet_sizes(10000, 500, 0.01, 10, np.random.default_rng(0))


def test_shards_give_each_client_few_labels():
    part = P.shards(LABELS, 100, 2, np.random.default_rng(0))
    assert np.all(part.sizes == 100)  # 200 shards of 50
    labels_per_client = (label_shares(part, LABELS) > 0).sum(1)
    assert labels_per_client.max() <= 2  # shards of 50 never straddle classes of 1000
    assert labels_per_client.mean() > 1.5


def test_quantity_skew_lognormal_sizes():
    g = np.random.default_rng(0)
    sizes = P.skewed_sizes(2_000_000, 2000, "lognormal", 1.0, 1.5, 1, g)
    assert sizes.sum() == 2_000_000 and sizes.min() >= 1
    assert abs(np.log(sizes).std() - 1.0) < 0.08


def test_quantity_skew_power_law_tail_index():
    g = np.random.default_rng(0)
    sizes = P.skewed_sizes(10_000_000, 4000, "power_law", 1.0, 1.5, 1, g).astype(float)
    hill = len(sizes) / np.log(sizes / sizes.min()).sum()  # MLE of the Pareto tail index
    assert abs(hill - 1.5) < 0.15


def test_quantity_skew_respects_min_size():
    part = P.quantity_skew(1000, 50, np.random.default_rng(0), "lognormal", 3.0, min_size=5)
    assert part.sizes.min() >= 5 and part.sizes.sum() == 1000


def test_similarity_one_is_iid_and_zero_gives_each_client_at_most_two_labels():
    labels = np.repeat(np.arange(10), 6000)  # 600 samples for each of 100 clients
    iid = P.similarity(labels, 100, 1.0, np.random.default_rng(0))
    assert np.all(iid.sizes == 600)
    shares = label_shares(iid, labels) / 600.0
    assert np.abs(shares - 0.1).max() < 0.06  # binomial(600, 0.1) sd 0.012: 5 sd
    sorted_ = P.similarity(labels, 100, 0.0, np.random.default_rng(0))
    assert np.all(sorted_.sizes == 600)
    assert ((label_shares(sorted_, labels) > 0).sum(1) <= 2).all()


def test_similarity_mixes_the_given_fraction():
    # s = 0.1: each client's 60 IID samples spread over all labels, its 540 sorted ones over <= 2.
    labels = np.repeat(np.arange(10), 6000)
    part = P.similarity(labels, 100, 0.1, np.random.default_rng(0))
    top_two = np.sort(label_shares(part, labels), axis=1)[:, -2:].sum(1)
    assert np.all(top_two >= 540) and np.all(top_two < 600)
    assert (label_shares(part, labels) > 0).sum(1).mean() > 6


def test_similarity_outside_unit_interval_is_a_user_error():
    with pytest.raises(UserError, match=r"^config error: data.partition.similarity: .*less than or equal to 1"):
        build_config({}, ["data.partition.name=similarity", "data.partition.similarity=1.5"])


def test_natural_groups_become_clients():
    groups = np.array(["b", "a", "b", "c", "a", "b"])
    part, values = P.natural(groups)
    assert values.tolist() == ["a", "b", "c"]
    assert [sorted(part.client(i).tolist()) for i in range(3)] == [[1, 4], [0, 2, 5], [3]]


def test_natural_without_groups_and_too_many_clients_are_user_errors():
    with pytest.raises(UserError, match="natural needs"):
        P.partition(PartitionConfig(name="natural"), LABELS, 10, 0)
    with pytest.raises(UserError, match="data.clients: 20000 clients"):
        P.partition(PartitionConfig(name="iid"), LABELS, 20000, 0)
