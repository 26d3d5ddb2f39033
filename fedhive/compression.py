"""Upload compression: client-side encoders with their server-side decoders, error feedback,
and the byte counts of every round's traffic.

A codec turns one flat update into a payload (a dict of tensors: exactly what would be
sent) and back. `compress` wraps a client update so that the client encodes and the server
decodes in one place; with error feedback the client keeps what was not sent (the residual)
in the client-state store and adds it to its next update (Seide et al. 2014; Stich et al. 2018).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from fedhive import rng
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.config import Config
from fedhive.server.chain import RoundContext, Transform, chain

Payload = dict[str, torch.Tensor]
FP8_MAX = 448.0  # largest finite float8_e4m3fn


class Codec(NamedTuple):
    """encode(x [P], generator) -> payload; decode(payload, P) -> x~ [P]; nbytes(P) -> the
    payload's size in bytes (the same for every update of that length)."""

    encode: Callable[[torch.Tensor, torch.Generator], Payload]
    decode: Callable[[Payload, int], torch.Tensor]
    nbytes: Callable[[int], int]


def payload_bytes(payload: Payload) -> int:
    """What a payload occupies on the wire: the bytes of its tensors."""
    return sum(t.numel() * t.element_size() for t in payload.values())


def kept(n: int, fraction: float) -> int:
    """k, the number of coordinates top-k / random-k send (at least one)."""
    return max(1, math.ceil(fraction * n))


def topk(fraction: float) -> Codec:
    """Top-k sparsification: the k largest-magnitude coordinates (float32 values, int32 indices)."""

    def encode(x, g):
        idx = torch.topk(x.abs(), kept(x.numel(), fraction), sorted=False).indices
        return {"values": x[idx].float(), "indices": idx.to(torch.int32)}

    def decode(p, n):
        return torch.zeros(n).index_put_((p["indices"].long(),), p["values"])

    return Codec(encode, decode, lambda n: 8 * kept(n, fraction))


def randk(fraction: float, unbiased: bool = True) -> Codec:
    """Random-k sparsification: k coordinates chosen by a seed that is sent instead of the
    indices; scaled by P/k when `unbiased` (not with error feedback, which corrects the bias)."""

    def indices(seed: torch.Tensor, n: int):
        g = torch.Generator().manual_seed(int(seed))
        return torch.randperm(n, generator=g)[: kept(n, fraction)]

    def encode(x, g):
        seed = torch.randint(0, 2**62, (1,), generator=g)
        scale = x.numel() / kept(x.numel(), fraction) if unbiased else 1.0
        return {"values": (x[indices(seed, x.numel())] * scale).float(), "seed": seed}

    def decode(p, n):
        return torch.zeros(n).index_put_((indices(p["seed"], n),), p["values"])

    return Codec(encode, decode, lambda n: 4 * kept(n, fraction) + 8)


def cast(dtype: torch.dtype) -> Codec:
    """Casting to a 16-bit float (float16, bfloat16)."""
    size = torch.tensor([], dtype=dtype).element_size()
    return Codec(lambda x, g: {"values": x.to(dtype)}, lambda p, n: p["values"].float(), lambda n: size * n)


def fp8() -> Codec:
    """8-bit float (e4m3) casting after scaling the vector's max magnitude to e4m3's range."""

    def encode(x, g):
        scale = (x.abs().max() / FP8_MAX).clamp_min(1e-30).float().reshape(1)
        return {"scale": scale, "values": (x / scale).to(torch.float8_e4m3fn)}

    return Codec(encode, lambda p, n: p["values"].float() * p["scale"], lambda n: n + 4)


def qsgd(levels: int) -> Codec:
    """QSGD (Alistarh et al. 2017) with s = `levels`: x_i -> ||x|| sign(x_i) l_i / s with
    l_i = floor(s |x_i| / ||x|| + u_i), u_i ~ U[0, 1), so E[x~] = x. Each coordinate is
    packed into 1 sign bit + ceil(log2(s + 1)) level bits; the norm is one float32."""
    width = 1 + math.ceil(math.log2(levels + 1))

    def encode(x, g):
        norm = torch.linalg.vector_norm(x).float().reshape(1)
        u = torch.rand(x.shape, generator=g, dtype=torch.float64)
        lvl = torch.floor(levels * x.abs().double() / norm.double().clamp_min(1e-30) + u).to(torch.int64)
        bits = (lvl.numpy()[:, None] >> np.arange(width - 2, -1, -1)) & 1
        bits = np.concatenate([(x < 0).numpy()[:, None], bits], axis=1).astype(np.uint8)
        return {"norm": norm, "bits": torch.from_numpy(np.packbits(bits.reshape(-1)))}

    def decode(p, n):
        bits = np.unpackbits(p["bits"].numpy())[: n * width].reshape(n, width).astype(np.int64)
        lvl = bits[:, 1:] @ (1 << np.arange(width - 2, -1, -1))
        sign = 1 - 2 * bits[:, 0]
        return torch.from_numpy(sign * lvl).float() * (p["norm"] / levels)

    return Codec(encode, decode, lambda n: 4 + math.ceil(n * width / 8))


def build_codec(name: str, levels: int = 16, fraction: float = 0.01, error_feedback: bool = False) -> Codec:
    """The codec named in the config (see CompressionConfig)."""
    makers = {
        "qsgd": lambda: qsgd(levels), "topk": lambda: topk(fraction),
        "randk": lambda: randk(fraction, unbiased=not error_feedback),
        "fp16": lambda: cast(torch.float16), "bf16": lambda: cast(torch.bfloat16), "fp8": fp8,
    }
    return makers[name]()


def compress(update_fn: ClientUpdate, codec: Codec, seed: int, error_feedback: bool = False) -> ClientUpdate:
    """A client update whose result is encoded by the client and decoded by the server.

    With `error_feedback`, the client sends encode(update + residual) and keeps the new
    residual (update + residual - sent) in its state under `ef_residual`. A non-finite update
    passes through untouched (the aggregate drops it) and leaves the residual as it was."""

    def update(params: torch.Tensor, data, state: ClientState, key: torch.Tensor) -> ClientResult:
        inner = {k: v for k, v in state.items() if k != "ef_residual"}
        res = update_fn(params, data, inner, key)
        if not bool(torch.isfinite(res.update).all()):
            return res._replace(state={**res.state, **_residual(state)})
        target = res.update + state["ef_residual"] if error_feedback else res.update
        g = rng.generator(seed, int(key), rng.GLOBAL, "compression")
        sent = codec.decode(codec.encode(target.detach().cpu(), g), target.numel()).to(target)
        new_state = {**res.state, "ef_residual": target - sent} if error_feedback else res.state
        return res._replace(update=sent, state=new_state)

    return update


def _residual(state: ClientState) -> ClientState:
    return {"ef_residual": state["ef_residual"]} if "ef_residual" in state else {}


def with_residual(client_init: Callable[[torch.Tensor], ClientState]) -> Callable[[torch.Tensor], ClientState]:
    """The initial client state plus a zero error-feedback residual."""
    return lambda params: {**client_init(params), "ef_residual": torch.zeros_like(params)}


def traffic(up_bytes: Callable[[int], int]) -> Transform:
    """Client stage, identity: records `bytes_up` (K uploads of up_bytes(P)) and `bytes_down`
    (the model, P parameters at their dtype's size, sent to each of the K clients)."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        k, p = updates.shape[0], ctx.params.numel()
        ctx.metrics.update(bytes_up=k * up_bytes(p), bytes_down=k * p * ctx.params.element_size())
        return updates, state

    return Transform(lambda params: (), update, "client")


def apply_compression(config: Config, algorithm: Any) -> Any:
    """The algorithm (an `Algorithm`) with the configured codec around its client update,
    if any, and the byte counter at the front of its server chain (always)."""
    c = config.compression
    client_update, client_init = algorithm.client_update, algorithm.client_init
    up_bytes = None
    if c.name != "none":
        codec = build_codec(c.name, c.levels, c.fraction, c.error_feedback)
        client_update = compress(client_update, codec, config.seed, c.error_feedback)
        client_init = with_residual(client_init) if c.error_feedback else client_init
        up_bytes = codec.nbytes
    server = chain(("traffic", traffic(up_bytes or (lambda n: 4 * n))), ("algorithm", algorithm.server))
    return algorithm._replace(client_update=client_update, server=server, client_init=client_init)
