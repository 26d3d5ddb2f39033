"""The vectorized engine agrees with the sequential one, streams linear aggregates in
O(P), drops non-finite clients on every path, and scales to a million-client universe."""

from __future__ import annotations

import math
import tracemalloc

import pytest
import torch

from fedhive import rng
from fedhive.client.update import ClientResult
from fedhive.config import EngineConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.server.aggregate import sum_updates, weighted_mean
from fedhive.server.chain import ReducedUpdates

EXPERIMENTS = {
    "reference": ["rounds=10"],
    # local SGD, clients holding 1..6 batches of 50: unequal sizes, many local steps
    "local_sgd": [
        "rounds=10", "data.batch_size=50", "data.batches.min=1", "data.batches.max=6",
        "algorithm=fedavg", "client.lr=0.5", "client.epochs=2",
        "server.aggregate=weighted_mean", "server.optimizer=sgd",
    ],
}
METRICS = ("train_loss", "test_loss", "test_accuracy", "clients", "samples", "dropped")
_sequential: dict[str, list[dict]] = {}


def history(name: str, engine: list[str]) -> list[dict]:
    return Experiment(load_config(None, EXPERIMENTS[name] + engine)).run(save=False)


def sequential_history(name: str) -> list[dict]:
    if name not in _sequential:
        _sequential[name] = history(name, ["engine.name=sequential"])
    return _sequential[name]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_same_metrics_as_sequential(name, chunk, fused):
    expected = sequential_history(name)
    got = history(name, ["engine.name=vectorized", f"engine.chunk_size={chunk}", f"engine.fused={fused}"])
    assert len(got) == len(expected) == 10
    for e, g in zip(expected, got):
        for m in METRICS:
            assert g[m] == pytest.approx(e[m], rel=1e-5, abs=1e-7), (g["round"], m)
    assert expected[-1]["test_accuracy"] > 0.9


def _engine(**fields) -> VectorizedEngine:
    return VectorizedEngine(EngineConfig(name="vectorized", **fields))


def _reference():
    config = load_config(None, ["data.batches.min=1", "data.batches.max=3", "data.batch_size=20"])
    exp = Experiment(config)
    return exp, exp.algorithm.client_update


def test_rows_equal_sequential_rows_without_linear_aggregate():
    exp, update = _reference()
    ids = [5, 17, 3, 99, 42]
    expected = SequentialEngine(exp.config.engine).run(update, exp.params, exp.dataset, 2, ids)
    got = _engine(chunk_size=2).run(update, exp.params, exp.dataset, 2, ids)
    assert got.updates.shape == (5, exp.params.numel())
    torch.testing.assert_close(got.updates, expected.updates, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got.weights, expected.weights)
    torch.testing.assert_close(got.metrics["loss"], expected.metrics["loss"])


@pytest.mark.parametrize("fused", [True, False])
def test_linear_aggregate_comes_back_reduced(fused):
    exp, update = _reference()
    ids = [5, 17, 3, 99, 42]
    rows = SequentialEngine(exp.config.engine).run(update, exp.params, exp.dataset, 2, ids)
    linear = weighted_mean().linear
    got = _engine(chunk_size=2, fused=fused).run(update, exp.params, exp.dataset, 2, ids, linear=linear)
    assert isinstance(got.updates, ReducedUpdates)
    assert got.updates.finite.tolist() == [True] * 5
    torch.testing.assert_close(got.updates.total, rows.weights @ rows.updates, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.metrics["loss"], rows.metrics["loss"], rtol=1e-5, atol=1e-7)


def _nan_for_client(bad: int, update, round: int = 0):
    """`update`, except that client `bad` sends NaNs in `round` (it has no fused path of its own)."""

    def broken(params, data, state, inputs, key):
        r = update(params, data, state, inputs, key)
        return ClientResult(torch.where(key == rng.client_key(round, bad), torch.nan, r.update), r.weight, r.state, r.outputs,
                            r.metrics)

    return broken


def test_nonfinite_client_dropped_and_counted_when_streaming():
    exp, update = _reference()
    ids = [5, 17, 3, 99, 42]
    broken = _nan_for_client(99, update)
    out = _engine(chunk_size=2).run(broken, exp.params, exp.dataset, 0, ids, linear=sum_updates().linear)
    assert out.updates.finite.tolist() == [True, True, True, False, True]
    rows = SequentialEngine(exp.config.engine).run(update, exp.params, exp.dataset, 0, ids).updates
    torch.testing.assert_close(out.updates.total, rows[[0, 1, 2, 4]].sum(0), rtol=1e-5, atol=1e-6)

    from fedhive.server.chain import RoundContext

    ctx = RoundContext(round=0, params=exp.params, weights=out.weights)
    agg, _ = sum_updates().update(out.updates, (), ctx)
    assert ctx.metrics["dropped"] == 1
    torch.testing.assert_close(agg, out.updates.total)


def test_fused_chunk_with_nonfinite_sum_is_redone_client_by_client():
    exp, update = _reference()
    broken = _nan_for_client(3, update)
    broken.cohort_sum = lambda params, data, coef: (  # a fused pass that overflowed
        torch.full_like(params, torch.inf), data.mask.sum((1, 2)), {"loss": data.mask.new_zeros(len(data.mask))}
    )
    out = _engine().run(broken, exp.params, exp.dataset, 0, [5, 3, 8], linear=sum_updates().linear)
    assert out.updates.finite.tolist() == [True, False, True]
    assert torch.isfinite(out.updates.total).all()


def test_chunk_size_derived_from_memory_bound():
    exp, update = _reference()
    calls = []

    class Spy:
        def cohort_batches(self, round, ids):
            calls.append(len(ids))
            return exp.dataset.cohort_batches(round, ids)

    ids = list(range(40))
    _engine(max_memory_mb=1e-3).run(update, exp.params, Spy(), 0, ids, linear=sum_updates().linear)
    assert calls[0] == 8 and set(calls[1:]) == {1}  # a probe chunk, then what fits in 1 KB
    calls.clear()
    _engine(max_memory_mb=1024).run(update, exp.params, Spy(), 0, ids, linear=sum_updates().linear)
    assert calls == [8, 32]


def test_fused_chunks_hold_at_most_fused_chunk_bytes(monkeypatch):
    import fedhive.engines.vectorized as vectorized

    monkeypatch.setattr(vectorized, "FUSED_CHUNK_BYTES", 50_000)
    exp, update = _reference()
    chunks = []

    class Spy(ReferenceTask):
        def cohort_steps(self, round, ids):
            chunks.append(len(ids))
            return super().cohort_steps(round, ids)

    spy, ids, linear = Spy(exp.config.data, exp.config.seed), list(range(400)), sum_updates().linear
    engine = _engine(max_memory_mb=1024)
    got = engine.run(update, exp.params, spy, 0, ids, linear=linear)
    per_client = engine._bytes_per_client
    assert chunks[0] == 8 and sum(chunks) == 400 and len(chunks) >= 4
    assert all(n == int(50_000 // per_client) for n in chunks[1:-1])  # the byte cap, not max_memory_mb
    whole = _engine(chunk_size=400).run(update, exp.params, exp.dataset, 0, ids, linear=linear)
    torch.testing.assert_close(got.updates.total, whole.updates.total, rtol=1e-5, atol=0)  # summation order


def test_compile_failure_says_so_once_and_runs_uncompiled(monkeypatch, capsys):
    def broken_compile(fn, **kwargs):
        def fail(*args):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    exp, update = _reference()
    ids = [5, 17, 3]
    linear = sum_updates().linear
    got = _engine(compile=True).run(update, exp.params, exp.dataset, 0, ids, linear=linear)
    _engine(compile=True)  # a second engine does not compile until it runs
    expected = _engine().run(update, exp.params, exp.dataset, 0, ids, linear=linear)
    torch.testing.assert_close(got.updates.total, expected.updates.total)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torch.compile failed, running uncompiled" in err[0]
    assert "no compiler here" in err[0]


def test_million_client_universe_runs_a_round_of_ten_thousand():
    config = load_config(None, [
        "data.clients=1000000", "cohort.min=10000", "cohort.max=10000", "rounds=1",
        "data.batch_size=8", "data.batches.min=1", "data.batches.max=2",
    ])
    tracemalloc.start()
    exp = Experiment(config)
    row = exp.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert row["clients"] == 10_000 and row["dropped"] == 0
    assert 10_000 * 8 <= row["samples"] <= 20_000 * 8
    assert math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])
    # One Python object per universe client would need far more than this.
    assert peak < 16 * 2**20, peak


def test_reference_task_chunk_independent():
    task = ReferenceTask(load_config(None, ["data.batches.min=1", "data.batches.max=4"]).data, seed=3)
    whole = task.cohort_batches(7, [11, 12, 13])
    alone = task.cohort_batches(7, [12])
    steps = int(alone.mask.shape[1])
    assert torch.equal(whole.x[1, :steps], alone.x[0])
    assert torch.equal(whole.y[1, :steps], alone.y[0])
    assert torch.equal(whole.x[1, steps:], torch.zeros_like(whole.x[1, steps:]))
    assert whole.mask[1].sum() == alone.mask.sum() == steps * 1000


def test_chunks_group_clients_of_equal_work_and_results_keep_client_order():
    exp, update = _reference()
    seen = []

    class Spy:
        def work(self, round, ids):
            return exp.dataset.work(round, ids)

        def cohort_batches(self, round, ids):
            seen.append(list(ids))
            return exp.dataset.cohort_batches(round, ids)

    ids = list(range(30))
    work = exp.dataset.work(4, ids)
    out = _engine(chunk_size=5).run(update, exp.params, Spy(), 4, ids)
    assert [c for chunk in seen for c in chunk] == sorted(ids, key=work.__getitem__)
    assert out.weights.tolist() == [20.0 * w for w in work]  # 20 samples per batch, client order


def test_failing_update_names_round_and_clients():
    from fedhive.engines.base import ClientError

    exp, update = _reference()

    def broken(params, data, state, inputs, key):
        raise ValueError("bad shapes")

    # Round numbers in messages are 1-based, like the metrics rows.
    with pytest.raises(ClientError, match=r"round 4, clients .*: client update failed: bad shapes"):
        _engine(fail_fast=True).run(broken, exp.params, exp.dataset, 3, [4, 5])
    # Without fail_fast, every client failing the same way is one error at once, not a
    # round of dropped clients (tests/test_faults.py drops clients that fail differently).
    with pytest.raises(UserError, match="round 4: all 2 client updates raised the same error: ValueError: bad shapes"):
        _engine().run(broken, exp.params, exp.dataset, 3, [4, 5])


def test_big_chunks_end_where_work_changes():
    exp, update = _reference()  # 1..3 batches per client
    seen = []

    class Spy:
        work = exp.dataset.work

        def cohort_batches(self, round, ids):
            seen.append(set(exp.dataset.work(round, ids)))
            return exp.dataset.cohort_batches(round, ids)

    ids = list(range(300))
    out = _engine(chunk_size=250).run(update, exp.params, Spy(), 1, ids)  # the vmapped (padded) path
    assert seen == [{1}, {2}, {3}]  # no padding anywhere
    rows = SequentialEngine(exp.config.engine).run(update, exp.params, exp.dataset, 1, ids)
    torch.testing.assert_close(out.updates, rows.updates, rtol=1e-5, atol=1e-5)


def test_fused_path_takes_packed_steps_in_client_order_without_work_ordering():
    exp, update = _reference()
    seen = []

    class Spy:
        def work(self, round, ids):
            raise AssertionError("packed data has no padding to order by work")

        def cohort_steps(self, round, ids):
            seen.append(list(ids))
            return exp.dataset.cohort_steps(round, ids)

        def cohort_batches(self, round, ids):
            raise AssertionError("the fused path draws packed steps")

    ids = list(range(300))
    out = _engine(chunk_size=250).run(update, exp.params, Spy(), 1, ids, linear=sum_updates().linear)
    assert seen == [ids[:250], ids[250:]]
    rows = SequentialEngine(exp.config.engine).run(update, exp.params, exp.dataset, 1, ids)
    torch.testing.assert_close(out.updates.total, rows.updates.sum(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.metrics["loss"], rows.metrics["loss"], rtol=1e-5, atol=1e-6)
    assert out.weights.tolist() == rows.weights.tolist()


def test_chunks_bound_padding_and_run_an_outlier_alone():
    from fedhive.engines.vectorized import MAX_PADDING, _similar_work

    work = [40, 3, 4, 3, 4, 3, 300, 5]
    order = sorted(range(len(work)), key=work.__getitem__)
    chunks, lo = [], 0
    while lo < len(order):
        chunks.append(_similar_work(order[lo:], work))
        lo += len(chunks[-1])
    assert [c for chunk in chunks for c in chunk] == order
    assert chunks[-2:] == [[0], [6]]  # the two outliers, each alone
    for chunk in chunks:
        steps = [work[p] for p in chunk]
        assert max(steps) * len(steps) - sum(steps) <= MAX_PADDING * max(steps) * len(steps)
    assert _similar_work([1, 2], None) == [1, 2]


def test_a_subclass_that_changes_the_batches_is_not_bypassed_by_the_packed_draw():
    """A dataset subclass overriding only `cohort_batches` (here: labels flipped) gets its own
    data on the fused path; the base class keeps its faster packed draw."""
    from fedhive.data.batches import Batches
    from fedhive.engines.vectorized import cohort_steps, packed_draw

    class Flipped(ReferenceTask):
        def cohort_batches(self, round, ids):
            b = super().cohort_batches(round, ids)
            return Batches(b.x, (1 - b.y) * b.mask, b.mask)

    config = load_config(None, []).data
    base, flipped = ReferenceTask(config, 0), Flipped(config, 0)
    assert packed_draw(base) == base.cohort_steps and packed_draw(flipped) is None
    ours, theirs = cohort_steps(flipped, 3, [5, 9]), base.cohort_steps(3, [5, 9])
    assert torch.equal(ours.x, theirs.x) and torch.equal(ours.steps, theirs.steps)
    assert torch.equal(ours.y, 1 - theirs.y)
