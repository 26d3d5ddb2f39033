"""The vectorized engine vmaps a chunk only where `vmap_rule` says it pays: one client, an
outlier beside short clients and an update with costly convolutions run one at a time, with
exactly the sequential engine's results; full chunks of equal work and small convolution
stacks are still vmapped."""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

import fedhive.engines.vectorized as vectorized
import fedhive.engines.vmap_rule as vmap_rule
from fedhive.config import EngineConfig, load_config
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.engines.vmap_rule import MAX_CONV_MACS, MIN_FILL, conv_macs, vmap_pays
from fedhive.experiment import Experiment

UNEQUAL = ["data.name=fedprox_synthetic", "data.clients=30", "data.partition.name=natural", "data.batch_size=10",
           "data.client_test_fraction=0.2", "model.name=logistic", "algorithm=fedavg", "client.lr=0.01",
           "cohort.min=10", "cohort.max=10", "server.aggregate=weighted_mean", "server.optimizer=sgd"]
SMALL_CNN = ["data.name=digits", "data.clients=10", "data.batch_size=20", "cohort.min=4", "cohort.max=4",
             "algorithm=fedavg", "model.name=cnn", "model.channels=[2,4]", "model.dense=8"]


@pytest.fixture
def vmapped(monkeypatch) -> list[list[int]]:
    """The real steps of the clients of every vmapped call the engine makes."""
    calls: list[list[int]] = []

    def spy(fn, in_dims):
        inner = vmap(fn, in_dims=in_dims)

        def call(params, data, *rest):
            calls.append([*(data.mask.amax(-1) > 0).sum(-1).tolist(), data.mask.shape[1]])
            return inner(params, data, *rest)

        return call

    monkeypatch.setattr(vectorized, "vmap", spy)
    return calls


def _both(overrides: list[str], round: int = 0, **engine):
    """(sequential rows, vectorized rows, cohort) of one round's cohort, no aggregate."""
    exp = Experiment(load_config(None, overrides + ["rounds=1"]))
    ids = exp.sampler(round).tolist()
    states = exp.client_states.gather(ids)
    run = lambda e: e.run(exp.algorithm.client_update, exp.params, exp.dataset, round, ids, states)  # noqa: E731
    return (run(SequentialEngine(exp.config.engine)), run(VectorizedEngine(EngineConfig(name="vectorized", **engine))),
            ids, exp)


def test_rule_table():
    assert not vmap_pays(torch.tensor([7]), 7)  # one client: never a vmap of size 1
    assert vmap_pays(torch.tensor([7, 7, 7]), 7)
    assert not vmap_pays(torch.tensor([2, 3, 30]), 30)  # an outlier beside short clients
    assert vmap_pays(torch.tensor([5, 4, 5, 5]), 5)
    assert vmap_pays(torch.tensor([5] * 8), 5, MAX_CONV_MACS)  # small convolutions gain from vmap
    assert not vmap_pays(torch.tensor([5] * 8), 5, MAX_CONV_MACS + 1)  # large ones run plain on a CPU
    assert not vmap_pays(torch.tensor([7, 7]), 7)  # two clients: 2 plain steps cost less than a vmapped one


def test_one_client_chunks_run_plain_and_equal_sequential_exactly(vmapped):
    seq, vec, ids, exp = _both(UNEQUAL, chunk_size=1)
    assert vmapped == []
    assert vec.updates.shape == (len(ids), exp.params.numel()) == (10, 610)
    assert torch.equal(vec.updates, seq.updates)
    assert torch.equal(vec.weights, seq.weights) and torch.equal(vec.metrics["loss"], seq.metrics["loss"])


def test_unequal_clients_vmap_only_full_chunks_and_agree_with_sequential(vmapped):
    seq, vec, ids, exp = _both(UNEQUAL, round=2)
    work = exp.dataset.work(2, ids)
    assert max(work) > 10 * sorted(work)[len(work) // 2]  # an outlier in this cohort
    assert vmapped, "the short clients still share a vmapped call"
    for call in vmapped:
        *steps, padded = call
        assert sum(steps) >= MIN_FILL * padded
    assert sum(len(c) - 1 for c in vmapped) < len(ids)  # the rest ran one at a time
    torch.testing.assert_close(vec.updates, seq.updates, rtol=1e-5, atol=1e-7)
    outlier = work.index(max(work))
    assert torch.equal(vec.updates[outlier], seq.updates[outlier])  # run plain, as sequential runs it


def test_conv_macs_counts_one_client_step():
    exp = Experiment(load_config(None, SMALL_CNN + ["rounds=1"]))
    data = exp.dataset.cohort_batches(0, exp.sampler(0).tolist()[:2])
    keys = torch.zeros(2, dtype=torch.int64)
    assert data.x.shape[2:] == (20, 1, 8, 8)  # batches of 20 digits
    # 5x5 'same' convolutions: 1->2 channels on 8x8 maps, then (pooled) 2->4 on 4x4.
    by_hand = 20 * 8 * 8 * (2 * 1 * 25) + 20 * 4 * 4 * (4 * 2 * 25)
    assert conv_macs(exp.algorithm.client_update, exp.params, data, {}, {}, keys) == by_hand == 128_000
    mlp = Experiment(load_config(None, SMALL_CNN + ["model.name=mlp", "rounds=1"]))
    assert conv_macs(mlp.algorithm.client_update, mlp.params, data, {}, {}, keys) == 0


def test_small_convolutions_are_vmapped(vmapped):
    seq, vec, ids, _ = _both(SMALL_CNN)
    assert [len(call) - 1 for call in vmapped] == [len(ids)]
    torch.testing.assert_close(vec.updates, seq.updates, rtol=1e-5, atol=1e-6)


def test_costly_convolutions_run_plain_on_cpu(vmapped, monkeypatch):
    monkeypatch.setattr(vmap_rule, "MAX_CONV_MACS", 127_999)  # SMALL_CNN's step costs 128,000
    seq, vec, ids, _ = _both(SMALL_CNN)
    assert vmapped == []
    assert torch.equal(vec.updates, seq.updates)


def test_equal_clients_still_vmapped_in_one_call(vmapped):
    seq, vec, ids, _ = _both(["data.batches.min=2", "data.batches.max=2", "data.batch_size=20", "algorithm=fedavg",
                              "server.aggregate=weighted_mean", "server.optimizer=sgd"], chunk_size=1000)
    assert vmapped == [[2] * len(ids) + [2]]
    torch.testing.assert_close(vec.updates, seq.updates, rtol=1e-5, atol=1e-7)
