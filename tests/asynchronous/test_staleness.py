"""Staleness and example weights on known inputs."""

from __future__ import annotations

import pytest
import torch

from fedhive.asynchronous.staleness import example_weight, staleness_weight
from fedhive.config import AsyncConfig

S = torch.tensor([0, 1, 3, 8])


def test_constant_and_fedbuff_polynomial():
    assert staleness_weight(AsyncConfig(staleness="constant"), S).tolist() == [1, 1, 1, 1]
    got = staleness_weight(AsyncConfig(staleness="polynomial", a=0.5), S).tolist()
    assert got == pytest.approx([1.0, 1 / 2**0.5, 0.5, 1 / 3])


def test_hinge():
    got = staleness_weight(AsyncConfig(staleness="hinge", a=0.5, b=2), S).tolist()
    assert got == pytest.approx([1.0, 1.0, 1 / (0.5 * 1 + 1), 1 / (0.5 * 6 + 1)])


def test_example_weights():
    n = torch.tensor([4.0, 9.0, 25.0])
    assert example_weight(AsyncConfig(example_weight="equal"), n).tolist() == [1, 1, 1]
    assert example_weight(AsyncConfig(example_weight="linear"), n).tolist() == [4, 9, 25]
    assert example_weight(AsyncConfig(example_weight="sqrt"), n).tolist() == [2, 3, 5]


def test_flsim_threshold_stays_flat_after_the_cutoff_where_hinge_decays():
    s = torch.tensor([0, 2, 3, 10])
    flat = staleness_weight(AsyncConfig(staleness="threshold", b=2, value_after_cutoff=0.25), s)
    assert flat.tolist() == [1.0, 1.0, 0.25, 0.25]
    hinge = staleness_weight(AsyncConfig(staleness="hinge", a=0.5, b=2), s)
    assert hinge.tolist() == pytest.approx([1.0, 1.0, 1 / 1.5, 1 / 5])


def test_flsim_normalization_by_average_staleness():
    # FLSim: weight(s) = raw(s) / raw(avg_staleness); its default avg_staleness is 1.
    poly = staleness_weight(AsyncConfig(staleness="polynomial", a=0.5, avg_staleness=1), torch.tensor([0, 1, 3]))
    assert poly.tolist() == pytest.approx([2**0.5, 1.0, 2**0.5 / 2])
    cfg = AsyncConfig(staleness="threshold", b=2, value_after_cutoff=0.25, avg_staleness=3)
    assert staleness_weight(cfg, torch.tensor([1, 5])).tolist() == [4.0, 1.0]


def test_flsim_log10_example_weight_and_average_examples():
    n = torch.tensor([9.0, 99.0, 999.0])
    # log10(1 + n) = 1, 2, 3, divided by log10(1 + 1) at FLSim's default avg_num_examples = 1
    got = example_weight(AsyncConfig(example_weight="log10"), n)
    assert got.tolist() == pytest.approx([1 / 0.30103, 2 / 0.30103, 3 / 0.30103], rel=1e-5)
    assert example_weight(AsyncConfig(example_weight="log10", avg_examples=99), n).tolist() == pytest.approx([0.5, 1, 1.5])
    linear = example_weight(AsyncConfig(example_weight="linear", avg_examples=10), torch.tensor([4.0, 9.0, 25.0]))
    assert linear.tolist() == pytest.approx([0.4, 0.9, 2.5])


@pytest.mark.parametrize("overrides, message", [
    (["asynchronous.staleness=polynomial", "asynchronous.a=1.5"], "asynchronous.*between 0 and 1, inclusive"),
    (["asynchronous.staleness=threshold"], "asynchronous.*value_after_cutoff"),
])
def test_weights_are_validated_as_flsim_does(overrides, message):
    from fedhive.config import load_config
    from fedhive.errors import UserError

    with pytest.raises(UserError, match=message):
        load_config(None, ["mode=async", *overrides])
    load_config(None, ["mode=async", "asynchronous.staleness=hinge", "asynchronous.a=1.5"])  # a hinge slope may exceed 1
