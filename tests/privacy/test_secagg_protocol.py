import numpy as np
import pytest
import torch

from fedhive.privacy import shamir
from fedhive.privacy.secagg import modular_sum, quantize
from fedhive.privacy.secagg_protocol import Client, SecAggAbort, prg, secure_sum

BITS = 24


def inputs(n: int, p: int = 64, seed: int = 0) -> list[np.ndarray]:
    rs = np.random.default_rng(seed)
    return [rs.integers(0, 2**16, p).astype(np.uint64) for _ in range(n)]


def test_shamir_any_t_shares_recover():
    secret = bytes(range(32))
    shares = shamir.share(secret, 3, [1, 2, 3, 4, 5])
    assert shamir.reconstruct({x: shares[x] for x in (5, 2, 4)}, 3) == secret
    with pytest.raises(ValueError, match="2 shares cannot recover"):
        shamir.reconstruct({1: shares[1], 2: shares[2]}, 3)


def test_no_dropout_sum_is_exact():
    xs = inputs(5)
    result = secure_sum(xs, threshold=3, bits=BITS)
    assert np.array_equal(result.total, sum(xs) % 2**BITS)


def test_protocol_sums_the_quantized_updates_exactly():
    rows = torch.randn(4, 50, generator=torch.Generator().manual_seed(1)) * 0.5
    ints, _ = quantize(rows, 1.0, 16)
    result = secure_sum([r.numpy().astype(np.uint64) for r in ints], threshold=3, bits=32)
    assert np.array_equal(result.total, modular_sum(ints, 32)[0].numpy().astype(np.uint64))


@pytest.mark.parametrize("dropped", [{1}, {0, 4}, {2, 5, 6}])
def test_dropouts_up_to_n_minus_t_recover_the_survivors_sum(dropped):
    xs = inputs(7)
    result = secure_sum(xs, threshold=4, bits=BITS, drop_before_input=dropped)
    survivors = [x for u, x in enumerate(xs) if u not in dropped]
    assert np.array_equal(result.total, sum(survivors) % 2**BITS)
    assert result.revealed_key == dropped


def test_late_dropouts_keep_their_input():
    xs = inputs(6)
    result = secure_sum(xs, threshold=4, bits=BITS, drop_before_unmask={0, 3})
    assert np.array_equal(result.total, sum(xs) % 2**BITS)


def test_too_many_dropouts_abort():
    with pytest.raises(SecAggAbort, match="3 masked inputs received, the threshold is 4"):
        secure_sum(inputs(6), threshold=4, bits=BITS, drop_before_input={0, 1, 2})
    with pytest.raises(SecAggAbort, match="unmasking responses"):
        secure_sum(inputs(6), threshold=4, bits=BITS, drop_before_input={0}, drop_before_unmask={1, 2})


def test_server_never_holds_both_secrets_of_a_client():
    result = secure_sum(inputs(7), threshold=4, bits=BITS, drop_before_input={1, 5}, drop_before_unmask={2})
    assert not (result.revealed_self & result.revealed_key)
    assert result.revealed_self == {0, 2, 3, 4, 6} and result.revealed_key == {1, 5}
    client = Client(0, np.zeros(1), BITS)
    with pytest.raises(ValueError, match="both dropped and included"):
        client.unmask({1}, {1})


def test_a_masked_vector_looks_uniform():
    # A constant input (all zeros) masked: its 8-bit values should be uniform (chi-square).
    xs = [np.zeros(40_000, dtype=np.uint64) for _ in range(3)]
    clients = [Client(u, x, 8) for u, x in enumerate(xs)]
    roster = {c.uid: c.advertise() for c in clients}
    for c in clients:
        c.share_keys(roster, 2)
    y = clients[1].masked_input()
    counts = np.bincount(y.astype(np.int64), minlength=256)
    expected = len(y) / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    pvalue = torch.special.gammaincc(torch.tensor(255 / 2, dtype=torch.float64), torch.tensor(chi2 / 2)).item()
    assert pvalue > 1e-3
    assert len(prg(bytes(32), 10, 8)) == 10


@pytest.mark.parametrize("n, threshold, bits, match", [
    (5, 2, BITS, r"n/2 < t <= n \(n=5\), got t=2"),
    (4, 2, BITS, r"n/2 < t <= n \(n=4\), got t=2"),
    (4, 5, BITS, r"got t=5"),
    (1, 1, BITS, "at least 2 clients"),
    (4, 3, 0, r"bits must be in \[1, 64\]"),
])
def test_parameters_outside_the_threat_model_are_refused(n, threshold, bits, match):
    with pytest.raises(ValueError, match=match):
        secure_sum(inputs(n), threshold=threshold, bits=bits)


def test_ragged_inputs_and_unknown_dropouts_are_refused():
    with pytest.raises(ValueError, match="same length"):
        secure_sum([*inputs(3), np.zeros(3, dtype=np.uint64)], threshold=3, bits=BITS)
    with pytest.raises(ValueError, match=r"dropped clients \[9\]"):
        secure_sum(inputs(4), threshold=3, bits=BITS, drop_before_unmask={9})
