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
