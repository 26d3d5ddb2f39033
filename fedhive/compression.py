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
from fedhive.server.chain import RoundContext, Transform

Payload = dict[str, torch.Tensor]
FP8_MAX = 448.0  # largest finite float8_e4m3fn


class Codec(NamedTuple):
    """One compression scheme. `key` is an int64 tensor from which the codec draws its
    randomness (`rng.keyed_uniform`), so a client's draws are the same on every engine.

    roundtrip(x [P], key) -> what the server decodes, in tensor ops only (safe under vmap);
    encode(x, key) -> the payload actually sent; decode(payload, P) -> x~;
    nbytes(P) -> the payload's size in bytes (the same for every update of that length).
    decode(encode(x, key), P) equals roundtrip(x, key)."""

    roundtrip: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    encode: Callable[[torch.Tensor, torch.Tensor], Payload]
    decode: Callable[[Payload, int], torch.Tensor]
    nbytes: Callable[[int], int]


def payload_bytes(payload: Payload) -> int:
    """What a payload occupies on the wire: the bytes of its tensors."""
    return sum(t.numel() * t.element_size() for t in payload.values())


def kept(n: int, fraction: float) -> int:
    """k, the number of coordinates top-k / random-k send (at least one)."""
    return max(1, math.ceil(fraction * n))


def _sparse(x: torch.Tensor, idx: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return torch.zeros_like(x).scatter(-1, idx, x.gather(-1, idx) * scale)


def topk(fraction: float) -> Codec:
    """Top-k sparsification: the k largest-magnitude coordinates (float32 values, int32 indices)."""
    indices = lambda x: torch.topk(x.abs(), kept(x.shape[-1], fraction)).indices  # noqa: E731

    def encode(x, key):
        idx = indices(x)
        return {"values": x[idx].float(), "indices": idx.to(torch.int32)}

    def decode(p, n):
        return torch.zeros(n).scatter(0, p["indices"].long(), p["values"])

    return Codec(lambda x, key: _sparse(x, indices(x)), encode, decode, lambda n: 8 * kept(n, fraction))


def randk(fraction: float, unbiased: bool = True) -> Codec:
    """Random-k sparsification: k coordinates drawn from the key, which is sent instead of
    the indices; scaled by P/k when `unbiased` (not with error feedback, which corrects the bias)."""

    def indices(key, n):  # the k coordinates with the smallest keyed uniform scores
        return torch.topk(-rng.keyed_uniform(key, n), kept(n, fraction)).indices

    scale = lambda n: n / kept(n, fraction) if unbiased else 1.0  # noqa: E731

    def encode(x, key):
        return {"values": x[indices(key, x.numel())].float() * scale(x.numel()), "key": key.reshape(1)}

    def decode(p, n):
        return torch.zeros(n).scatter(0, indices(p["key"][0], n), p["values"])

    def roundtrip(x, key):
        n = x.shape[-1]
        return _sparse(x, indices(key, n), scale(n))

    return Codec(roundtrip, encode, decode, lambda n: 4 * kept(n, fraction) + 8)


def cast(dtype: torch.dtype) -> Codec:
    """Casting to a 16-bit float (float16, bfloat16)."""
    size = torch.tensor([], dtype=dtype).element_size()
    return Codec(lambda x, key: x.to(dtype).to(x.dtype), lambda x, key: {"values": x.to(dtype)},
                 lambda p, n: p["values"].float(), lambda n: size * n)


def fp8() -> Codec:
    """8-bit float (e4m3) casting after scaling the vector's max magnitude to e4m3's range."""

    def encode(x, key):
        scale = (x.abs().amax(-1, keepdim=True) / FP8_MAX).clamp_min(1e-30).float()
        return {"scale": scale, "values": (x / scale).to(torch.float8_e4m3fn)}

    def decode(p, n):
        return p["values"].float() * p["scale"]

    return Codec(lambda x, key: decode(encode(x, key), x.shape[-1]).to(x.dtype), encode, decode, lambda n: n + 4)


def qsgd(levels: int) -> Codec:
    """QSGD (Alistarh et al. 2017) with s = `levels`: x_i -> ||x|| sign(x_i) l_i / s with
    l_i = floor(s |x_i| / ||x|| + u_i), u_i ~ U[0, 1), so E[x~] = x. Each coordinate is
    packed into 1 sign bit + ceil(log2(s + 1)) level bits; the norm is one float32."""
    width = 1 + math.ceil(math.log2(levels + 1))
    powers = 1 << np.arange(width - 2, -1, -1)

    def quantize(x, key):
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True).float()
        u = rng.keyed_uniform(key, x.shape[-1])
        lvl = torch.floor(levels * x.abs().double() / norm.double().clamp_min(1e-30) + u)
        return norm, lvl.clamp(max=levels)

    def roundtrip(x, key):
        norm, lvl = quantize(x, key)
        return (torch.sign(x) * lvl.float() * (norm / levels)).to(x.dtype)

    def encode(x, key):
        norm, lvl = quantize(x, key)
        bits = (lvl.long().numpy()[:, None] & powers) > 0
        bits = np.concatenate([(x < 0).numpy()[:, None], bits], axis=1)
        return {"norm": norm, "bits": torch.from_numpy(np.packbits(bits.reshape(-1)))}

    def decode(p, n):
        bits = np.unpackbits(p["bits"].numpy())[: n * width].reshape(n, width).astype(np.int64)
        signed = (1 - 2 * bits[:, 0]) * (bits[:, 1:] @ powers)
        return torch.from_numpy(signed).float() * (p["norm"] / levels)

    return Codec(roundtrip, encode, decode, lambda n: 4 + math.ceil(n * width / 8))


def build_codec(name: str, levels: int = 16, fraction: float = 0.01, error_feedback: bool = False) -> Codec:
    """The codec named in the config (see CompressionConfig)."""
    makers = {
        "qsgd": lambda: qsgd(levels), "topk": lambda: topk(fraction),
        "randk": lambda: randk(fraction, unbiased=not error_feedback),
        "fp16": lambda: cast(torch.float16), "bf16": lambda: cast(torch.bfloat16), "fp8": fp8,
    }
    return makers[name]()


def compress(update_fn: ClientUpdate, codec: Codec, seed: int, error_feedback: bool = False) -> ClientUpdate:
    """A client update whose result the client encodes and the server decodes.

    With `error_feedback`, the client sends encode(update + residual) and keeps the new
    residual (update + residual - sent) in its state under `ef_residual`. A non-finite update
    passes through untouched (the aggregate drops it) and leaves the residual as it was.
    Tensor ops only, so every engine runs it (vmap included) with the same result."""

    def update(params: torch.Tensor, data, state: ClientState, inputs, key: torch.Tensor) -> ClientResult:
        inner = {k: v for k, v in state.items() if k != "ef_residual"}  # the wrapped update's own state
        res = update_fn(params, data, inner, inputs, key)
        target = res.update + state["ef_residual"] if error_feedback else res.update
        sent = codec.roundtrip(target, rng.salted(key.to(target.device), seed, "compression"))
        finite = torch.isfinite(res.update).all()
        new_state = dict(res.state)
        if error_feedback:
            new_state["ef_residual"] = torch.where(finite, target - sent, state["ef_residual"])
        return res._replace(update=torch.where(finite, sent, res.update), state=new_state)

    return update


def with_residual(client_init: Callable[[torch.Tensor], ClientState]) -> Callable[[torch.Tensor], ClientState]:
    """The initial client state plus a zero error-feedback residual."""
    return lambda params: {**client_init(params), "ef_residual": torch.zeros_like(params)}


def counting_traffic(server: Transform, up_bytes: Callable[[int], int]) -> Transform:
    """`server` unchanged (same state, stage and linear aggregate, so engines may still
    stream it and checkpoints keep their layout), recording `bytes_up` (K uploads of
    up_bytes(P)) and `bytes_down` (the model, P parameters at their dtype's size, sent to
    each of the K clients) for every round."""

    def update(updates, state, ctx: RoundContext):
        k, p = len(ctx.weights), ctx.params.numel()
        ctx.metrics.update(bytes_up=k * up_bytes(p), bytes_down=k * p * ctx.params.element_size())
        return server.update(updates, state, ctx)

    return server._replace(update=update)


def apply_compression(config: Config, algorithm: Any) -> Any:
    """The algorithm (a `FederatedAlgorithm`) with the configured codec around its client update,
    if any, and its server chain counting the bytes sent (always)."""
    c = config.compression
    client_update, client_init = algorithm.client_update, algorithm.client_init
    up_bytes = None
    if c.name != "none":
        codec = build_codec(c.name, c.levels, c.fraction, c.error_feedback)
        client_update = compress(client_update, codec, config.seed, c.error_feedback)
        client_init = with_residual(client_init) if c.error_feedback else client_init
        up_bytes = codec.nbytes
    server = counting_traffic(algorithm.server, up_bytes or (lambda n: 4 * n))
    return algorithm._replace(client_update=client_update, server=server, client_init=client_init)
