"""The next chunk's draw on a background thread: same items in the same order, at most
one ahead, errors raised where they happen, and a run bit-identical to one without it."""

from __future__ import annotations

import threading

import pytest
import torch

from fedhive.config import load_config
from fedhive.engines import prefetch, vectorized
from fedhive.engines.prefetch import Ahead, ahead
from fedhive.experiment import Experiment


def _counted(n: int, made: list[int]):
    for i in range(n):
        made.append(i)
        yield i


def test_items_come_in_order_and_at_most_one_ahead():
    made: list[int] = []
    seen = []
    with ahead(_counted(5, made), threading.Lock(), True) as items:
        for i in items:
            # Taking item i has started the draw of i+1 and of nothing beyond it.
            assert len(made) <= i + 2
            seen.append(i)
    assert seen == [0, 1, 2, 3, 4] and made == seen


def test_disabled_hands_the_items_back_unchanged():
    items = iter([1, 2])
    with ahead(items, threading.Lock(), False) as same:
        assert same is items


def test_an_error_in_the_draw_is_raised_to_the_caller():
    def broken():
        yield 1
        raise ValueError("bad draw")

    with ahead(broken(), threading.Lock(), True) as items:
        assert next(items) == 1
        with pytest.raises(ValueError, match="bad draw"):
            next(items)


def test_leaving_early_stops_the_thread():
    drawn = Ahead(_counted(100, []), threading.Lock())
    next(drawn)
    drawn.close()
    assert not any(t.name.startswith("fedhive-draw") for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(drawn)


_CHUNKS = vectorized.VectorizedEngine._chunks


def _final(overrides: list[str], overlap: bool, monkeypatch) -> tuple[torch.Tensor, list[str]]:
    """Final params of a run, and the threads the cohort's chunks were drawn on."""
    monkeypatch.setattr(vectorized, "spare_core", lambda: overlap)
    threads: list[str] = []

    def recorded(self, *args):
        for item in _CHUNKS(self, *args):
            threads.append(threading.current_thread().name)
            yield item

    monkeypatch.setattr(vectorized.VectorizedEngine, "_chunks", recorded)
    exp = Experiment(load_config(None, ["rounds=4", "engine.chunk_size=7", *overrides]))
    exp.run(save=False)
    return exp.params, threads


@pytest.mark.parametrize("overrides", [
    [],  # the fused FedSGD path: packed steps
    ["engine.fused=false"],  # vmapped, padded batches
    ["algorithm=fedavg", "client.epochs=2", "data.batches.min=1", "data.batches.max=6", "data.batch_size=50"],
])
def test_overlapped_run_is_bit_identical(overrides, monkeypatch):
    plain, plain_threads = _final(overrides, False, monkeypatch)
    overlapped, overlapped_threads = _final(overrides, True, monkeypatch)
    assert set(plain_threads) == {"MainThread"}
    assert all(t.startswith("fedhive-draw") for t in overlapped_threads) and len(overlapped_threads) >= 4 * 3
    assert torch.equal(plain, overlapped)


@pytest.mark.parametrize("threads, cores, spare", [(2, {0, 3}, True), (2, {0}, False), (1, {0, 3}, False)])
def test_spare_core_needs_two_threads_and_two_cores(threads, cores, spare, monkeypatch):
    monkeypatch.setattr(prefetch.os, "sched_getaffinity", lambda pid: cores, raising=False)
    monkeypatch.setattr(prefetch.torch, "get_num_threads", lambda: threads)
    assert prefetch.spare_core() is spare
