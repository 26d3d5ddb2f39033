"""Client state kept by the owning rank: scatter keeps own clients, state_dict gathers all
shares, load_state_dict keeps this rank's share of a dict saved with any rank count."""

from __future__ import annotations

import torch

from fedhive.engines.sharded_state import ShardedStateStore, owner


class FakeGroup:
    """Rank `rank` of `world`; the other ranks' state_dict shares are given."""

    def __init__(self, rank: int, world: int, others: list[dict] | None = None):
        self.rank, self.world, self.others = rank, world, others or []

    def all_gather_object(self, round, obj):
        return [obj, *self.others]


def _init(params):
    return {"c": torch.zeros(2)}


def test_scatter_keeps_only_this_ranks_clients_and_gather_fills_the_rest():
    store = ShardedStateStore(_init, torch.zeros(2), FakeGroup(rank=1, world=2))
    store.scatter([4, 5, 7], {"c": torch.tensor([[1.0, 1], [2, 2], [3, 3]])})
    assert sorted(store.states) == [5, 7]
    assert store.gather([5, 4])["c"].tolist() == [[2.0, 2], [0, 0]]  # 4 lives on rank 0
    assert owner(7, 2) == 1 and owner(4, 2) == 0


def test_state_dict_merges_every_rank_and_load_keeps_own_share():
    rank0_share = {2: {"c": torch.tensor([9.0, 9])}}
    store = ShardedStateStore(_init, torch.zeros(2), FakeGroup(rank=1, world=2, others=[rank0_share]))
    store.scatter([3], {"c": torch.tensor([[1.0, 2]])})
    full = store.state_dict()
    assert sorted(full) == [2, 3] and full[2]["c"].tolist() == [9.0, 9]
    three = ShardedStateStore(_init, torch.zeros(2), FakeGroup(rank=2, world=3))  # resumed on 3 ranks
    three.load_state_dict(full)
    assert sorted(three.states) == [2]
