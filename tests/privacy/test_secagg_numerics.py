import pytest
import torch

from fedhive.privacy.secagg import dequantize, modular_sum, quantize, secagg_numerics
from fedhive.server.chain import RoundContext


def ctx(k: int) -> RoundContext:
    return RoundContext(round=0, params=torch.zeros(1), weights=torch.ones(k))


def test_quantize_roundtrip_error_is_half_a_step():
    x = torch.linspace(-1, 1, 1001).unsqueeze(0)
    ints, clipped = quantize(x, 1.0, 8)
    assert ints.min() == 0 and ints.max() == 255 and not clipped.any()
    step = 2 / 255
    assert (dequantize(ints, 1, 1.0, 8) - x.double()).abs().max() <= step / 2 + 1e-12


def test_sum_without_overflow_is_close_and_counts_clipping():
    g = torch.Generator().manual_seed(0)
    rows = torch.rand(10, 200, generator=g) * 1.6 - 0.8
    rows[0, 0] = 5.0  # clipped to the range
    c = ctx(10)
    out, _ = secagg_numerics(1.0, 16, 32).update(rows, (), c)
    assert c.metrics["secagg_overflow"] == 0
    assert c.metrics["secagg_clipped"] == pytest.approx(1 / 2000)
    expected = rows.clamp(-1, 1).double().sum(0)
    assert (out.double().sum(0) - expected).abs().max() <= 10 * (1 / 65535) + 1e-6


def test_overflow_is_counted_and_wraps_like_the_protocol():
    rows = torch.ones(4, 3)  # each coordinate quantizes to 2^4 - 1 = 15; the sum 60 >= 2^5
    c = ctx(4)
    out, _ = secagg_numerics(1.0, 4, 5).update(rows, (), c)
    assert c.metrics["secagg_overflow"] == 3
    wrapped, overflow = modular_sum(quantize(rows, 1.0, 4)[0], 5)
    assert overflow == 3 and torch.equal(wrapped, torch.full((3,), 60 % 32))
    assert torch.allclose(out.double().sum(0), dequantize(wrapped, 4, 1.0, 4))
    assert c.metrics["secagg_error"] > 0.5
