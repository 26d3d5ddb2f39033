"""Balanced slices and the packing of per-client rows for one collective per dtype."""

from __future__ import annotations

import pytest
import torch

from fedhive.config import DataConfig
from fedhive.data.synthetic import ReferenceTask
from fedhive.engines.distributed import client_work
from fedhive.engines.exchange import Column, balanced_slices, gather_rows, pack, schema_of, unpack


def test_balanced_slices_longest_first_onto_least_loaded():
    # work 9,1,5,5,3 on 2 ranks: 9->r0; 5->r1; 5->r1 (load 5 < 9); 3->r0 (9 < 10); 1->r1 (10 < 12)
    assert balanced_slices([9, 1, 5, 5, 3], 2) == [[0, 4], [1, 2, 3]]
    assert balanced_slices([1, 1, 1], 2) == [[0, 2], [1]]


@pytest.mark.parametrize("k, world", [(0, 2), (1, 3), (2, 3), (7, 3), (10, 1)])
def test_balanced_slices_cover_the_cohort_once(k, world):
    slices = balanced_slices([float(i % 4 + 1) for i in range(k)], world)
    assert len(slices) == world
    assert sorted(p for s in slices for p in s) == list(range(k))
    assert all(s == sorted(s) for s in slices)
    if k < world:
        assert sum(1 for s in slices if not s) == world - k


def test_client_work_is_the_batch_count_without_drawing_data():
    task = ReferenceTask(DataConfig(clients=20, batch_size=10), seed=3)
    ids = [4, 17, 0]
    assert [w * 10 for w in client_work(task, 2, ids)] == task.cohort_batches(2, ids).sizes.tolist()
    assert client_work(object(), 2, ids) == [1.0, 1.0, 1.0]


def _rows(n: int) -> dict[str, torch.Tensor]:
    return {
        "update": torch.arange(n * 3, dtype=torch.float32).reshape(n, 3),
        "weight": torch.arange(n, dtype=torch.float32) + 1,
        "state/count": torch.arange(n, dtype=torch.int64).reshape(n, 1, 1) + 10,
    }


def test_pack_one_matrix_per_dtype_and_unpack_inverts():
    rows = _rows(2)
    schema = schema_of(rows)
    assert schema[2] == Column("state/count", torch.int64, (1, 1))
    mats = pack(rows, schema, 2, torch.device("cpu"))
    assert {d: m.shape for d, m in mats.items()} == {torch.float32: (2, 4), torch.int64: (2, 1)}
    back = unpack(mats, schema)
    assert all(torch.equal(back[k], rows[k]) for k in rows)
    empty = pack({}, schema, 0, torch.device("cpu"))  # an empty slice knows only the schema
    assert {d: m.shape for d, m in empty.items()} == {torch.float32: (0, 4), torch.int64: (0, 1)}


class FakeGroup:
    """A two-rank all_gather where the other rank holds `other`'s padded rows."""

    def __init__(self, other: dict[torch.dtype, torch.Tensor]):
        self.other = other

    def all_gather(self, round, tensor):
        return [tensor, self.other[tensor.dtype]]


def test_gather_rows_restores_cohort_order_from_padded_slices():
    full = _rows(3)
    schema = schema_of(full)
    slices = [[1], [0, 2]]  # rank 0 ran position 1, rank 1 ran positions 0 and 2
    theirs = pack({k: v[[0, 2]] for k, v in full.items()}, schema, 2, torch.device("cpu"))
    mine = {k: v[[1]] for k, v in full.items()}
    out = gather_rows(FakeGroup(theirs), 0, mine, slices, 0, schema, torch.device("cpu"))
    assert all(torch.equal(out[k], full[k]) for k in full)
