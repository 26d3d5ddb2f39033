"""The reference task: shapes, labels, masks, and data keyed per (round, client)."""

import torch

from fedhive.config import DataConfig
from fedhive.data.synthetic import ReferenceTask, label


def test_cohort_shapes_masks_and_labels():
    task = ReferenceTask(DataConfig(), seed=0)
    b = task.cohort_batches(0, [3, 1, 4])
    k, s, n = b.mask.shape
    assert (k, n) == (3, 1000) and 5 <= s <= 9 and b.x.shape == (3, s, 1000, 2)
    steps = b.mask.amax(-1).sum(-1)
    assert ((steps >= 5) & (steps <= 9)).all() and int(steps.max()) == s
    real = b.mask.bool()
    assert b.x[real].abs().max() <= 1 and b.x[real].min() < -0.9
    assert torch.equal(b.y[real], label(b.x)[real])
    assert (b.x[~real] == 0).all() and (b.y[~real] == 0).all()
    assert torch.equal(b.sizes, steps * 1000)


def test_labels_follow_the_true_weights():
    x = torch.tensor([[0.0, 0.0], [-1.0, -1.0], [1.0, -0.5], [-1.0, 0.0]])
    # 0.3 + 0.2*x1 + 0.8*x2: 0.3, -0.7, 0.1, 0.1
    assert label(x).tolist() == [1.0, 0.0, 1.0, 1.0]


def test_client_data_does_not_depend_on_the_cohort():
    task = ReferenceTask(DataConfig(), seed=7)
    alone = task.cohort_batches(2, [42]).client(0)
    grouped = task.cohort_batches(2, [5, 42, 9]).client(1)
    assert all(torch.equal(a, g) for a, g in zip(alone, grouped))
    other_round = task.cohort_batches(3, [42]).client(0)
    assert not torch.equal(alone.x[:1], other_round.x[:1])


def test_test_set_is_fresh_each_round_and_reproducible():
    task = ReferenceTask(DataConfig(test_size=100), seed=0)
    x0, y0 = task.test_set(0)
    assert x0.shape == (100, 2) and y0.shape == (100,)
    assert torch.equal(task.test_set(0)[0], x0) and not torch.equal(task.test_set(1)[0], x0)


def test_packed_steps_are_the_padded_batches_without_padding():
    from fedhive.data.batches import packed

    task = ReferenceTask(DataConfig(batch_size=50), seed=5)
    ids = [9, 2, 700, 31]
    steps = task.cohort_steps(1, ids)
    again = packed(task.cohort_batches(1, ids))
    assert steps.mask is None and again.mask is None
    assert torch.equal(steps.steps, again.steps) and steps.steps.tolist() == task.work(1, ids)
    assert torch.equal(steps.x, again.x) and torch.equal(steps.y, again.y)
    assert steps.x.shape == (int(steps.steps.sum()), 50, 2)
    assert torch.equal(steps.y, label(steps.x))
    # A client's packed slice is what it draws alone.
    lo = int(steps.steps[:2].sum())
    alone = task.cohort_steps(1, [700])
    assert torch.equal(steps.x[lo:lo + int(steps.steps[2])], alone.x)


def test_a_clients_packed_data_is_its_keyed_draw_whatever_the_cohort_order():
    from fedhive import rng

    task = ReferenceTask(DataConfig(batch_size=30), seed=3)
    for ids in ([8, 100_000, 3], [3, 8, 100_000]):
        steps = task.cohort_steps(4, torch.tensor(ids))
        los = [0, *steps.steps.cumsum(0).tolist()]
        for k, c in enumerate(ids):
            own = torch.rand(int(steps.steps[k]), 30, 2, generator=rng.generator(3, 4, c, "data")) * 2 - 1
            assert torch.equal(steps.x[los[k]:los[k + 1]], own)


def test_batch_counts_cover_the_range_and_do_not_depend_on_the_cohort():
    task = ReferenceTask(DataConfig(), seed=0)
    counts = task.work(3, list(range(2000)))
    assert set(counts) == set(range(5, 10))
    assert task.work(3, [1999, 4]) == [counts[1999], counts[4]]
