"""A simulation of the SecAgg protocol (Bonawitz et al. 2017, "Practical Secure Aggregation
for Privacy-Preserving Machine Learning"), for tests and small runs.

Round 0 (AdvertiseKeys): each client u publishes two X25519 public keys, c_u (channel) and
s_u (masks). Round 1 (ShareKeys): u draws a self-mask seed b_u and Shamir-shares b_u and its
private s-key t-of-n; the share for v is encrypted (AES-GCM under the c-key agreed with v)
and routed by the server, which cannot read it. Round 2 (MaskedInputCollection): u sends
y_u = x_u + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv) mod 2^bits. Round 3
(Unmasking): each survivor reveals, for every other client, the share of s_v if v dropped
before sending y_v, else the share of b_v -- never both for one client -- and the server
removes the masks. Fewer than t clients at any step aborts the round.

Threat model (the paper's semi-honest setting, without its Round 4 consistency check):
- The server follows the protocol but tries to learn more than the sum from what it sees;
  it may collude with fewer than t clients. It then learns only the sum of the included
  inputs. A server that lies about who dropped (an active adversary) is out of scope.
- Dropouts survived: clients that vanish after ShareKeys (their pairwise masks are undone
  from their s-key shares, their input is left out) and clients that vanish after sending
  their masked input (their input counts, their self mask is undone from b-shares), as long
  as at least t clients remain at each step; otherwise SecAggAbort. Every client takes part
  in AdvertiseKeys and ShareKeys.
- Parameters: n >= 2 clients and a majority threshold n/2 < t <= n, so no two disjoint
  groups of survivors can each reconstruct a secret (one group b_u, another s_u); inputs of
  one length, `bits` in [1, 64]. Anything else is refused with ValueError.
"""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedhive.privacy import shamir

SHARE_BYTES = 66  # a field element of GF(2^521 - 1)


class SecAggAbort(RuntimeError):
    """Too few clients are left to finish the protocol."""


class SecAggResult(NamedTuple):
    total: np.ndarray  # sum mod 2^bits of the inputs of clients whose masked input arrived
    included: list[int]  # those clients
    revealed_self: set[int]  # clients whose self-mask seed b_u the server reconstructed
    revealed_key: set[int]  # clients whose private mask key s_u the server reconstructed


def prg(seed: bytes, length: int, bits: int) -> np.ndarray:
    """`length` integers in [0, 2^bits) expanded from a 32-byte seed with AES-256 in CTR mode."""
    stream = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor().update(bytes(8 * length))
    return np.frombuffer(stream, dtype=np.uint64) & np.uint64((1 << bits) - 1)


def agree(private: X25519PrivateKey, public: bytes) -> bytes:
    """A 32-byte key shared by the two ends of an X25519 exchange (HKDF-SHA256)."""
    secret = private.exchange(X25519PublicKey.from_public_bytes(public))
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"fedhive-secagg").derive(secret)


class Client:
    """One SecAgg client holding its integer input vector `x` (values in [0, 2^bits))."""

    def __init__(self, uid: int, x: np.ndarray, bits: int):
        self.uid, self.x, self.bits = uid, x.astype(np.uint64), bits
        self.c_key, self.s_key = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        self.self_seed = os.urandom(32)
        self.held: dict[int, tuple[int, int]] = {}  # v -> (share of s_v, share of b_v)

    def advertise(self) -> tuple[bytes, bytes]:
        return self.c_key.public_key().public_bytes_raw(), self.s_key.public_key().public_bytes_raw()

    def share_keys(self, roster: dict[int, tuple[bytes, bytes]], threshold: int) -> dict[int, bytes]:
        """Encrypted shares of (s_u, b_u) for every client in the roster, keyed by recipient."""
        self.roster = roster
        xs = [v + 1 for v in roster]
        s_shares = shamir.share(self.s_key.private_bytes_raw(), threshold, xs)
        b_shares = shamir.share(self.self_seed, threshold, xs)
        out = {}
        for v, (c_pub, _) in roster.items():
            plain = b"".join(n.to_bytes(SHARE_BYTES, "big") for n in (s_shares[v + 1], b_shares[v + 1]))
            nonce = os.urandom(12)
            out[v] = nonce + AESGCM(agree(self.c_key, c_pub)).encrypt(nonce, plain, bytes([self.uid % 256]))
        return out

    def receive_shares(self, sender: int, ciphertext: bytes) -> None:
        plain = AESGCM(agree(self.c_key, self.roster[sender][0])).decrypt(
            ciphertext[:12], ciphertext[12:], bytes([sender % 256]))
        self.held[sender] = (int.from_bytes(plain[:SHARE_BYTES], "big"), int.from_bytes(plain[SHARE_BYTES:], "big"))

    def masked_input(self) -> np.ndarray:
        """y_u: the input plus its self mask plus signed pairwise masks, modulo 2^bits."""
        y = self.x + prg(self.self_seed, len(self.x), self.bits)
        for v, (_, s_pub) in self.roster.items():
            if v != self.uid:
                mask = prg(agree(self.s_key, s_pub), len(self.x), self.bits)
                y = y + mask if v > self.uid else y - mask
        return y & np.uint64((1 << self.bits) - 1)

    def unmask(self, dropped: set[int], included: set[int]) -> dict[int, tuple[str, int]]:
        """For each client, the share the server may have: s_v's if v dropped, b_v's if not."""
        if dropped & included:
            raise ValueError("a client cannot be both dropped and included")
        return {v: ("s", self.held[v][0]) if v in dropped else ("b", self.held[v][1])
                for v in dropped | included if v in self.held}


def secure_sum(inputs: list[np.ndarray], threshold: int, bits: int,
               drop_before_input: AbstractSet[int] = frozenset(),
               drop_before_unmask: AbstractSet[int] = frozenset()) -> SecAggResult:
    """Run the protocol among len(inputs) clients (ids 0..n-1) and return what the server
    learns. Clients in `drop_before_input` vanish after ShareKeys (their input is left out);
    clients in `drop_before_unmask` send their masked input but not their shares."""
    check_parameters(len(inputs), threshold, bits, inputs, drop_before_input | drop_before_unmask)
    clients = [Client(u, x, bits) for u, x in enumerate(inputs)]
    roster = {c.uid: c.advertise() for c in clients}
    routed = {c.uid: c.share_keys(roster, threshold) for c in clients}  # the server cannot read them
    for u, ciphertexts in routed.items():
        for v, ciphertext in ciphertexts.items():
            clients[v].receive_shares(u, ciphertext)
    included = [c.uid for c in clients if c.uid not in drop_before_input]
    _require(len(included), threshold, "masked inputs")
    masked = {u: clients[u].masked_input() for u in included}
    responders = [u for u in included if u not in drop_before_unmask]
    _require(len(responders), threshold, "unmasking responses")
    dropped = set(range(len(clients))) - set(included)
    shares: dict[int, dict[int, int]] = {}
    kinds: dict[int, str] = {}
    for u in responders:
        for v, (kind, value) in clients[u].unmask(dropped, set(included)).items():
            shares.setdefault(v, {})[u + 1] = value
            kinds[v] = kind
    mod = np.uint64((1 << bits) - 1)
    total = sum(masked.values(), np.zeros(len(inputs[0]), dtype=np.uint64))
    for v in included:
        total = total - prg(shamir.reconstruct(shares[v], threshold), len(total), bits)
    for v in dropped:
        s_key = X25519PrivateKey.from_private_bytes(shamir.reconstruct(shares[v], threshold))
        for u in included:  # u added +PRG(s_uv) when v > u and subtracted it when v < u
            mask = prg(agree(s_key, roster[u][1]), len(total), bits)
            total = total - mask if v > u else total + mask
    revealed = lambda kind: {v for v, k in kinds.items() if k == kind}  # noqa: E731
    return SecAggResult(total & mod, included, revealed("b"), revealed("s"))


def _require(count: int, threshold: int, what: str) -> None:
    if count < threshold:
        raise SecAggAbort(f"SecAgg aborted: {count} {what} received, the threshold is {threshold}")


def check_parameters(n: int, threshold: int, bits: int, inputs: list[np.ndarray], dropped: AbstractSet[int]) -> None:
    """ValueError for parameters outside the threat model in the module docstring."""
    if n < 2:
        raise ValueError(f"SecAgg needs at least 2 clients, got {n}")
    if not n / 2 < threshold <= n:
        raise ValueError(f"SecAgg threshold must satisfy n/2 < t <= n (n={n}), got t={threshold}")
    if not 1 <= bits <= 64:
        raise ValueError(f"SecAgg bits must be in [1, 64], got {bits}")
    if len({len(x) for x in inputs}) != 1:
        raise ValueError("SecAgg inputs must all have the same length")
    if not dropped <= set(range(n)):
        raise ValueError(f"SecAgg dropped clients {sorted(dropped - set(range(n)))} are not among the {n} clients")
