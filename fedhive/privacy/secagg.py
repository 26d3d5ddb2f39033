"""Secure-aggregation numerics, cheap enough for every run: what the server would get if
clients uploaded fixed-point integers summed modulo 2^b (as SecAgg requires).

Client half: clip each coordinate to [-c, c] and quantize it to a `quant_bits`-bit integer.
Server half: the integer sum modulo 2^`bits`, dequantized. Overflow (a true sum >= 2^bits,
which wraps around) is counted, never hidden, and the error of the dequantized sum against
the exact sum is measured. The cryptographic protocol itself is `secagg_protocol`.
"""

from __future__ import annotations

import torch

from fedhive.server.chain import RoundContext, Transform, finite_rows


def quantize(updates: torch.Tensor, range_: float, quant_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows clipped to [-range, range] and mapped to integers in [0, 2^quant_bits - 1];
    returns (int64 integers, bool mask of clipped coordinates)."""
    levels = 2**quant_bits - 1
    clipped = updates.clamp(-range_, range_)
    ints = torch.round((clipped.double() + range_) / (2 * range_) * levels).to(torch.int64)
    return ints, clipped != updates


def dequantize(ints: torch.Tensor, count: int, range_: float, quant_bits: int) -> torch.Tensor:
    """The real value of a sum of `count` quantized vectors (float64)."""
    return ints.double() * (2 * range_ / (2**quant_bits - 1)) - count * range_


def modular_sum(ints: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
    """The column sums of non-negative integers modulo 2^bits, and how many columns wrapped."""
    exact = ints.sum(0)
    wrapped = exact % (1 << bits)
    return wrapped, int((exact != wrapped).sum())


def secagg_numerics(range_: float = 1.0, quant_bits: int = 16, bits: int = 32) -> Transform:
    """Client stage: each row becomes its fixed-point value; the wrap-around of the modular
    sum, if any, is folded into the first row, so the rows' sum is exactly what the SecAgg
    server would decode. Downstream must be a sum-type aggregate (sum, mean, DP sum).

    Records `secagg_clipped` (fraction of coordinates clipped to the range),
    `secagg_overflow` (coordinates whose sum wrapped) and `secagg_error` (relative L2 error
    of the decoded sum against the exact sum of the inputs)."""
    step = 2 * range_ / (2**quant_bits - 1)

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        finite = finite_rows(updates)
        rows = updates[finite]
        if not len(rows):
            return updates, state
        ints, clipped = quantize(rows, range_, quant_bits)
        wrapped, overflow = modular_sum(ints, bits)
        decoded = dequantize(ints, 1, range_, quant_bits)
        decoded[0] += (wrapped - ints.sum(0)).double() * step  # the wrap, if any
        exact = rows.double().sum(0)
        err = torch.linalg.vector_norm(decoded.sum(0) - exact) / torch.linalg.vector_norm(exact).clamp_min(1e-30)
        ctx.metrics.update(secagg_clipped=float(clipped.float().mean()), secagg_overflow=overflow,
                           secagg_error=float(err))
        out = updates.clone()
        out[finite] = decoded.to(updates.dtype)
        return out, state

    return Transform(lambda params: (), update, "client")
