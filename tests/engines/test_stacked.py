"""Asynchronous training from stacked start parameters: full chunks of equal work are
vmapped, a lone client or an outlier runs plain, and both give each client its own update."""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

import fedhive.engines.stacked as stacked
from fedhive.config import load_config
from fedhive.engines.stacked import run_stacked
from fedhive.experiment import Experiment

CONFIG = ["data.batch_size=10", "data.clients=40", "algorithm=fedavg", "rounds=1"]


@pytest.fixture
def vmapped(monkeypatch) -> list[int]:
    """The number of clients in every vmapped call `run_stacked` makes."""
    calls: list[int] = []

    def spy(fn):
        inner = vmap(fn)

        def call(params, *rest):
            calls.append(params.shape[0])
            return inner(params, *rest)

        return call

    monkeypatch.setattr(stacked, "vmap", spy)
    return calls


def _stack(ids: list[int], batches: tuple[int, int] = (3, 3)):
    exp = Experiment(load_config(None, CONFIG + [f"data.batches.min={batches[0]}", f"data.batches.max={batches[1]}"]))
    data = exp.dataset.cohort_batches(0, ids)
    g = torch.Generator().manual_seed(0)
    params = exp.params + 0.1 * torch.randn(len(ids), exp.params.numel(), generator=g)  # each its own version
    return exp.algorithm.client_update, params, data, torch.tensor(ids)


def _alone(update, params, data, keys, k):
    return update(params[k], data.client(k), {}, {}, keys[k])


def test_a_lone_client_runs_plain_and_exactly(vmapped):
    update, params, data, keys = _stack([3])
    out = run_stacked(update, params, data, {}, {}, keys, chunk_size=8)
    assert vmapped == []
    assert out.updates.shape == (1, params.shape[1])
    assert torch.equal(out.updates[0], _alone(update, params, data, keys, 0).update)


def test_equal_work_chunks_are_vmapped_and_agree_with_each_client_alone(vmapped):
    update, params, data, keys = _stack(list(range(8)))
    out = run_stacked(update, params, data, {}, {}, keys, chunk_size=4)
    assert vmapped == [4, 4]
    assert out.updates.shape == (8, params.shape[1]) and out.weights.shape == (8,)
    for k in range(8):
        torch.testing.assert_close(out.updates[k], _alone(update, params, data, keys, k).update, rtol=1e-5, atol=1e-6)


def test_an_outlier_beside_short_clients_runs_plain(vmapped):
    update, params, data, keys = _stack(list(range(12)), batches=(1, 12))
    steps = (data.mask.amax(-1) > 0).sum(-1)
    shortest, longest = int(steps.argmin()), int(steps.argmax())
    chunk = [shortest, longest]  # real steps well under MIN_FILL x the longest
    assert steps[longest] >= 4 * steps[shortest]
    pick = torch.tensor(chunk)
    out = run_stacked(update, params[pick], data._replace(**{f: getattr(data, f)[pick] for f in data._fields}), {},
                      {}, keys[pick], chunk_size=8)
    assert vmapped == []
    for row, k in enumerate(chunk):
        assert torch.equal(out.updates[row], _alone(update, params, data, keys, k).update)
