import math

import torch
from torch.func import vmap

from fedhive import rng


def test_client_key_depends_on_round_and_client():
    keys = {rng.client_key(r, c) for r in range(5) for c in range(5)}
    assert len(keys) == 25 and rng.client_key(2, 3) == rng.client_key(2, 3)


def test_keyed_uniform_matches_scalar_splitmix():
    key = torch.tensor(12345)
    u = rng.keyed_uniform(key, 3)
    # the same bits from the integer splitmix64 used for keys
    first = rng._splitmix64(12345)
    expected = [(rng._splitmix64((first + i) & rng._MASK64) >> 11) * 2.0**-53 for i in range(3)]
    assert u.tolist() == expected


def test_keyed_draws_have_the_right_moments():
    u = rng.keyed_uniform(torch.tensor(7), 200_000)
    z = rng.keyed_normal(torch.tensor(7), 200_000)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.005
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    assert abs((z.abs() < 1).double().mean().item() - math.erf(1 / math.sqrt(2))) < 0.005


def test_vmap_gives_each_key_its_own_draws():
    keys = torch.tensor([rng.client_key(1, c) for c in range(4)])
    batched = vmap(lambda k: rng.keyed_normal(rng.salted(k, 3, "x"), 6))(keys)
    for i, k in enumerate(keys):
        assert torch.equal(batched[i], rng.keyed_normal(rng.salted(k, 3, "x"), 6))
    assert not torch.equal(batched[0], batched[1])


def test_cohort_keys_equal_the_scalar_keys():
    from fedhive import rng

    clients = [0, 1, 7, 999_999, 2**40, -1]
    got = rng.keys(3, 12, torch.tensor(clients), "data").tolist()
    assert got == [rng.key(3, 12, c, "data") for c in clients]
    assert rng.keys(3, 12, torch.tensor(clients), "other").tolist() != got


def test_bulk_generators_draw_what_each_client_draws_alone():
    clients = torch.tensor([5, 0, 2**33, 5])
    bulk = [torch.rand(4, generator=g) for g in rng.generators(9, 3, clients, "data")]
    alone = [torch.rand(4, generator=rng.generator(9, 3, c, "data")) for c in clients.tolist()]
    assert all(torch.equal(b, a) for b, a in zip(bulk, alone))
    assert torch.equal(bulk[0], bulk[3]) and not torch.equal(bulk[0], bulk[1])
    assert rng.generators(9, 3, torch.tensor([], dtype=torch.int64), "data") == []
