"""The NIID-Bench reproduction's grid: its configs are NIID-Bench's protocol and its
partitions of Fashion-MNIST's labels are the paper's (the runs take too long for CI)."""

from __future__ import annotations

import numpy as np
import pytest

from fedhive.data.partition import partition
from fedhive.reproduce import spec
from fedhive.reproduce.run import write_base
from fedhive.sweep.grid import resolve

LABELS = np.repeat(np.arange(10), 6000)  # Fashion-MNIST's training labels: 6,000 of each class


def configs(tmp_path, quick: bool) -> list:
    """Every point's validated config, as the reproduction's sweeps build them."""
    s = spec.variant(spec.load("niid_bench_fmnist"), quick)
    base = write_base(s, tmp_path / "base.yaml")
    return [config for grid in s["sweeps"].values()
            for _, config in resolve(str(base), [*spec.arm_axis(s["arms"]), *grid], str(tmp_path / "out"))]


def test_full_grid_is_six_partitions_four_algorithms_three_seeds_of_the_protocol(tmp_path):
    cs = configs(tmp_path, False)
    assert len(cs) == 6 * 4 * 3
    assert {c.algorithm.name for c in cs} == {"fedavg", "fedprox", "scaffold", "fednova"}
    assert {c.data.partition.name for c in cs} == {"iid", "dirichlet_classes", "label_quantity", "quantity_skew"}
    for c in cs:
        assert (c.rounds, c.data.clients, c.cohort.min, c.cohort.max, c.data.batch_size) == (50, 10, 10, 10, 64)
        assert (c.client.epochs, c.client.lr, c.client.momentum, c.client.weight_decay) == (10, 0.01, 0.9, 1e-5)
        assert c.model.name == "simple_cnn" and c.data.name == "fashion_mnist"


def test_quick_is_one_seed_two_rounds_of_sixty_steps(tmp_path):
    cs = configs(tmp_path, True)
    assert len(cs) == 2 * 4
    assert {(c.client.epochs, c.client.steps, c.rounds, c.seed) for c in cs} == {(1, 60, 2, 0)}


@pytest.mark.parametrize("k", [1, 2, 3])
def test_label_quantity_partition_of_fashion_mnist_labels(tmp_path, k):
    c = [c for c in configs(tmp_path, False) if c.data.partition.name == "label_quantity"
         and c.data.partition.labels_per_client == k][0]
    part = partition(c.data.partition, LABELS, 10, seed=0)
    held = np.stack([np.bincount(LABELS[part.client(i)], minlength=10) for i in range(10)]) > 0
    assert np.all(held.sum(1) == k) and part.sizes.sum() == 60000


def test_dirichlet_partitions_hold_ten_samples_each(tmp_path):
    for c in configs(tmp_path, False):
        if c.data.partition.name in ("dirichlet_classes", "quantity_skew") and c.seed == 0:
            assert c.data.partition.alpha == 0.5 and c.data.partition.min_size == 10
            assert partition(c.data.partition, LABELS, 10, seed=c.seed).sizes.min() >= 10
