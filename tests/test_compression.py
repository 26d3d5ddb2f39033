import math

import pytest
import torch
from torch.func import vmap

from fedhive import rng
from fedhive.client.update import ClientResult
from fedhive.compression import build_codec, compress, counting_traffic, kept, payload_bytes, qsgd, topk, with_residual
from fedhive.server.aggregate import sum_updates
from fedhive.server.chain import RoundContext

X = torch.randn(1000, generator=torch.Generator().manual_seed(0))


def gen(i: int = 0) -> torch.Tensor:
    """A codec key."""
    return torch.tensor(rng.key(0, i, 0, "test"))


def test_qsgd_is_unbiased():
    codec, x = qsgd(4), X[:50]
    draws = torch.stack([codec.decode(codec.encode(x, gen(i)), 50) for i in range(4000)])
    stderr = draws.std(0) / math.sqrt(len(draws))
    assert ((draws.mean(0) - x).abs() <= 5 * stderr + 1e-6).all()


def test_qsgd_values_lie_on_the_levels():
    codec = qsgd(3)
    out = codec.decode(codec.encode(X, gen()), 1000)
    levels = out.abs() / (torch.linalg.vector_norm(X) / 3)
    assert torch.allclose(levels, levels.round(), atol=1e-4) and levels.max() <= 3


def test_topk_keeps_exactly_the_k_largest():
    codec = topk(0.05)
    out = codec.decode(codec.encode(X, gen()), 1000)
    k = kept(1000, 0.05)
    idx = torch.topk(X.abs(), k).indices
    assert int((out != 0).sum()) == k == 50
    assert torch.equal(out[idx], X[idx])


@pytest.mark.parametrize("name", ["qsgd", "topk", "randk", "fp16", "bf16", "fp8"])
def test_byte_counts_match_the_encoded_payload(name):
    codec = build_codec(name, levels=16, fraction=0.1)
    for n in (1, 7, 1000):
        assert payload_bytes(codec.encode(X[:n], gen())) == codec.nbytes(n)


@pytest.mark.parametrize("name", ["qsgd", "topk", "randk", "fp16", "bf16", "fp8"])
def test_roundtrip_is_decode_of_encode_and_vmaps(name):
    codec = build_codec(name, levels=5, fraction=0.1)
    keys = torch.stack([gen(i) for i in range(3)])
    rows = torch.stack([X, -X, 2 * X])
    batched = vmap(codec.roundtrip)(rows, keys)
    for i in range(3):
        decoded = codec.decode(codec.encode(rows[i], keys[i]), 1000)
        torch.testing.assert_close(codec.roundtrip(rows[i], keys[i]), decoded, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(batched[i], decoded, rtol=1e-6, atol=1e-7)


def test_known_sizes():
    assert build_codec("topk", fraction=0.1).nbytes(1000) == 100 * 8  # float32 value + int32 index
    assert build_codec("qsgd", levels=16).nbytes(1000) == 4 + 1000 * 6 // 8  # sign + 5 level bits
    assert build_codec("fp16").nbytes(1000) == 2000 and build_codec("fp8").nbytes(1000) == 1004


def test_randk_is_unbiased_without_error_feedback():
    codec, x = build_codec("randk", fraction=0.2), X[:20]
    draws = torch.stack([codec.decode(codec.encode(x, gen(i)), 20) for i in range(4000)])
    stderr = draws.std(0) / math.sqrt(len(draws))
    assert ((draws.mean(0) - x).abs() <= 5 * stderr + 1e-6).all()


def constant_update(value: torch.Tensor):
    def update(params, data, state, inputs, key):
        return ClientResult(value, torch.tensor(1.0), state, {}, {})
    return update


def test_error_feedback_residual_plus_sent_is_the_original():
    wrapped = compress(constant_update(X), topk(0.01), seed=0, error_feedback=True)
    state = with_residual(lambda p: {})(torch.zeros(1000))
    total_sent = torch.zeros(1000)
    for r in range(5):
        target = X + state["ef_residual"]
        res = wrapped(torch.zeros(1000), None, state, {}, torch.tensor(r))
        assert torch.allclose(res.update + res.state["ef_residual"], target)
        total_sent += res.update
        state = res.state
    # what was sent plus what is still owed is everything the client produced
    assert torch.allclose(total_sent + state["ef_residual"], 5 * X, atol=1e-5)


def test_nonfinite_update_passes_through_and_keeps_the_residual():
    bad = torch.full((1000,), float("nan"))
    wrapped = compress(constant_update(bad), topk(0.01), seed=0, error_feedback=True)
    state = {"ef_residual": torch.ones(1000)}
    res = wrapped(torch.zeros(1000), None, state, {}, torch.tensor(0))
    assert res.update.isnan().all() and torch.equal(res.state["ef_residual"], torch.ones(1000))


def test_traffic_counts_up_and_down():
    c = RoundContext(round=0, params=torch.zeros(1000), weights=torch.ones(3))
    server = counting_traffic(sum_updates(), build_codec("topk", fraction=0.1).nbytes)
    assert server.linear is not None
    total, _ = server.update(torch.ones(3, 1000), server.init(torch.zeros(1000)), c)
    assert torch.equal(total, torch.full((1000,), 3.0))
    assert (c.metrics["bytes_up"], c.metrics["bytes_down"]) == (3 * 800, 3 * 4000)
