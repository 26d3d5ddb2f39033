"""chain(): composition, named state, and order checks at build time."""

import pytest
import torch

from fedhive.server.aggregate import mean, sum_updates, weighted_mean
from fedhive.server.chain import RoundContext, Transform, chain
from fedhive.server.optim import adam, sgd


def _ctx(k, weights=None):
    w = torch.ones(k) if weights is None else weights
    return RoundContext(round=0, params=torch.zeros(3), weights=w)


def test_chain_threads_updates_and_names_state():
    c = chain(("sum", sum_updates()), ("sgd", sgd(0.5)))
    state = c.init(torch.zeros(3))
    assert set(state) == {"sum", "sgd"}
    out, _ = c.update(torch.tensor([[1.0, 2, 3], [3, 2, 1]]), state, _ctx(2))
    assert torch.equal(out, torch.tensor([-2.0, -2, -2]))
    assert c.stage == "aggregate"


def test_chain_rejects_wrong_order():
    clip = Transform(lambda p: (), lambda u, s, c: (u, s), "client")
    with pytest.raises(ValueError, match="'1' \\(aggregate stage\\) cannot come after 'sgd'"):
        chain(("sgd", sgd(1.0)), sum_updates())
    with pytest.raises(ValueError, match="needs an aggregate"):
        chain(("clip", clip), ("sgd", sgd(1.0)))
    with pytest.raises(ValueError, match="more than one aggregate"):
        chain(sum_updates(), mean())
    with pytest.raises(ValueError, match="duplicate"):
        chain(("a", sgd(1.0)), ("a", sgd(1.0)))


def test_chain_rejects_mismatched_state():
    c = chain(("sum", sum_updates()), ("adam", adam(1.0)))
    with pytest.raises(ValueError, match="state has members"):
        c.update(torch.zeros(1, 3), {"sum": ()}, _ctx(1))


def test_aggregates_on_known_inputs_drop_nonfinite_rows():
    u = torch.tensor([[1.0, 1.0], [3.0, 5.0], [float("nan"), 0.0], [float("inf"), 1.0]])
    w = torch.tensor([1.0, 3.0, 2.0, 2.0])
    for t, expected in [(sum_updates(), [4.0, 6.0]), (mean(), [2.0, 3.0]), (weighted_mean(), [2.5, 4.0])]:
        ctx = _ctx(4, w)
        out, _ = t.update(u, (), ctx)
        assert out.tolist() == expected and ctx.metrics["dropped"] == 2
