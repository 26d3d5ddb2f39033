"""FederatedDataset: packed gathering, keyed shuffles, test splits, save/load."""

import numpy as np
import pytest
import torch

from fedhive.data import from_arrays, load, save
from fedhive.data.arrays import split_client_test
from fedhive.data.federated import FederatedDataset, Packed, pad_clients
from fedhive.data.partition import Partition
from fedhive.errors import UserError


def tiny() -> FederatedDataset:
    # 3 clients owning 5, 2 and 0 rows; x encodes the row id so gathers are checkable.
    x = torch.arange(7, dtype=torch.float32)[:, None] * torch.ones(1, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    train = Packed(x, y, torch.tensor([0, 5, 7, 7]))
    test = (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    return FederatedDataset(train, 3, test=test, batch_size=2, seed=11)


def test_cohort_batches_shapes_padding_and_rows():
    ds = tiny()
    b = ds.cohort_batches(0, [1, 0, 2])
    assert b.x.shape == (3, 3, 2, 3) and b.y.shape == (3, 3, 2) and b.mask.shape == (3, 3, 2)
    assert b.mask.sum((1, 2)).tolist() == [2.0, 5.0, 0.0]
    assert sorted(b.x[0][b.mask[0] > 0][:, 0].tolist()) == [5.0, 6.0]
    assert sorted(b.x[1][b.mask[1] > 0][:, 0].tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert torch.all(b.x[b.mask == 0] == 0) and torch.all(b.y[b.mask == 0] == 0)
    # client 0's 5 rows fill ceil(5/2) = 3 steps, real samples first
    assert b.mask[1].tolist() == [[1, 1], [1, 1], [1, 0]]
    assert torch.equal(b.y[1][b.mask[1] > 0], ds.train.y[b.x[1][b.mask[1] > 0][:, 0].long()])


def test_shuffle_is_keyed_per_round_and_client_not_cohort():
    ds = tiny()
    alone = ds.cohort_batches(4, [0]).x[0]
    together = ds.cohort_batches(4, [2, 0, 1]).x[1]
    assert torch.equal(alone, together)  # independent of who else is in the cohort
    orders = {tuple(ds.cohort_batches(r, [0]).x[0, :, :, 0].flatten().tolist()) for r in range(8)}
    assert len(orders) > 1  # reshuffled across rounds


def test_sizes_weights_and_label_counts():
    ds = tiny()
    assert ds.client_sizes.tolist() == [5, 2, 0]
    assert ds.client_weights.tolist() == pytest.approx([5 / 7, 2 / 7, 0.0])
    assert ds.label_counts().tolist() == [[2, 2, 1], [1, 0, 1], [0, 0, 0]]
    assert ds.input_shape == (3,) and ds.num_features == 3


def test_pad_clients_keeps_stored_order():
    b = pad_clients(tiny().train, [1, 2])
    assert b.x.shape == (2, 1, 2, 3)
    assert b.x[0, 0, :, 0].tolist() == [5.0, 6.0] and b.mask.sum().item() == 2


def test_client_test_split_is_exact_and_per_client():
    part = Partition(np.arange(100, dtype=np.int64)[::-1].copy(), np.array([0, 10, 11, 100]))
    train, test = split_client_test(part, 0.3, seed=0)
    assert test.sizes.tolist() == [3, 0, 26] and train.sizes.tolist() == [7, 1, 63]
    for i in range(3):
        both = np.concatenate([train.client(i), test.client(i)])
        np.testing.assert_array_equal(np.sort(both), np.sort(part.client(i)))


def test_from_arrays_union_test_and_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 4)).astype(np.float32), rng.integers(0, 3, 300)
    ds = from_arrays(x, y, clients=6, partition="dirichlet_classes", alpha=1.0, min_size=5, seed=2, batch_size=8)
    assert ds.num_clients == 6 and ds.num_classes == 3 and not ds.separate_test
    assert len(ds.train.y) + len(ds.client_test.y) == 300
    assert torch.equal(ds.test_set(0)[1], ds.client_test.y)
    assert ds.info["partition"] == {"name": "dirichlet_classes", "alpha": 1.0, "min_size": 5, "balanced": False}
    for suffix in (".pt", ".npz"):
        path = tmp_path / f"ds{suffix}"
        header = save(ds, path)
        back = load(path, batch_size=8, seed=2)
        assert back.info["hash"] == header["hash"] and back.name == ds.name
        for a, b in zip(ds.cohort_batches(3, [0, 5]), back.cohort_batches(3, [0, 5])):
            assert torch.equal(a, b)
        assert torch.equal(back.test_set(0)[0], ds.test_set(0)[0])


def test_load_rejects_edited_file(tmp_path):
    ds = from_arrays(np.ones((40, 2)), np.arange(40) % 2, clients=4)
    path = tmp_path / "ds.pt"
    save(ds, path)
    blob = torch.load(path, weights_only=True)
    blob["tensors"]["train_y"][0] += 1
    torch.save(blob, path)
    with pytest.raises(UserError, match="do not match the hash"):
        load(path)


def test_from_arrays_errors():
    with pytest.raises(UserError, match="x has 3 samples but y has 2"):
        from_arrays(np.ones((3, 2)), [0, 1])
    with pytest.raises(UserError, match="partition: alpha"):
        from_arrays(np.ones((30, 2)), np.arange(30) % 2, clients=3, partition="dirichlet", alpha=-1)
    with pytest.raises(UserError, match="client_test_fraction"):
        from_arrays(np.ones((30, 2)), np.arange(30) % 2, clients=3, client_test_fraction=0.0)


def test_each_shuffle_is_the_clients_own_keyed_permutation_in_any_cohort_order():
    from fedhive import rng

    ds = tiny()
    for ids in ([0, 1, 2], [2, 1, 0], [1, 0]):
        b = ds.cohort_batches(6, ids)
        for k, c in enumerate(ids):
            start, n = int(ds.train.offsets[c]), int(ds.train.sizes[c])
            rows = b.x[k][b.mask[k] > 0][:, 0].long()
            expected = start + torch.randperm(n, generator=rng.generator(11, 6, c, "shuffle"))
            assert torch.equal(rows, expected)  # a permutation of exactly its own rows
            assert sorted(rows.tolist()) == list(range(start, start + n))
    assert ds.cohort_batches(6, []).x.shape == (0, 0, 2, 3)
