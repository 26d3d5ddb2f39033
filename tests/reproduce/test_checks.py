"""The reproduction checks pass on data that satisfies the claim and fail on data that does not."""

from __future__ import annotations

import pytest

from fedhive.errors import UserError
from fedhive.reproduce.checks import evaluate, matches

ROWS = [
    {"arm": "FedAvg", "alpha": "1.0", "loss": 0.9},
    {"arm": "FedProx μ=0", "alpha": "1.0", "loss": 0.6},
    {"arm": "FedProx μ=1", "alpha": "1.0", "loss": 0.4},
    {"arm": "FedProx μ=1", "alpha": "0.5", "loss": None},
]


def _order(*arms: str, factor: float | None = None) -> dict:
    spec = {"text": "t", "kind": "order", "metric": "loss", "settings": [{"arm": a, "alpha": 1.0} for a in arms]}
    return spec if factor is None else {**spec, "factor": factor}


def test_order_passes_when_increasing_and_fails_when_not():
    ok, bad = evaluate(ROWS, [_order("FedProx μ=1", "FedProx μ=0", "FedAvg"), _order("FedAvg", "FedProx μ=1")])
    assert ok.passed and ok.detail == "0.4 < 0.6 < 0.9"
    assert not bad.passed


def test_order_with_a_factor_asks_for_that_ratio():
    assert evaluate(ROWS, [_order("FedProx μ=1", "FedAvg", factor=2.0)])[0].passed  # 0.9 >= 2 × 0.4
    assert not evaluate(ROWS, [_order("FedProx μ=1", "FedAvg", factor=3.0)])[0].passed


def test_close_uses_the_tolerance():
    spec = {"text": "t", "kind": "close", "metric": "loss", "settings": [{"arm": "FedAvg"}, {"arm": "FedProx μ=0"}]}
    assert not evaluate(ROWS, [{**spec, "tol": 0.1}])[0].passed
    assert evaluate(ROWS, [{**spec, "tol": 0.31}])[0].passed


def test_within_checks_every_matching_row_and_a_missing_value_fails():
    spec = {"text": "t", "kind": "within", "metric": "loss", "low": 0.3, "high": 1.0}
    assert evaluate(ROWS, [{**spec, "where": {"alpha": 1.0}}])[0].passed
    assert not evaluate(ROWS, [{**spec, "where": {"alpha": 1.0}, "high": 0.8}])[0].passed  # FedAvg's 0.9
    assert not evaluate(ROWS, [spec])[0].passed  # the None of alpha 0.5


def test_swept_strings_match_yaml_values():
    assert matches({"alpha": "1.0", "algorithm": "{name: fedprox, mu: 0.0}"},
                   {"alpha": 1.0, "algorithm": {"name": "fedprox", "mu": 0}})
    assert not matches({"alpha": "0.5"}, {"alpha": 1.0})


def test_a_setting_that_names_no_row_or_several_is_an_error():
    with pytest.raises(UserError, match="no result row has"):
        evaluate(ROWS, [_order("FedSGD", "FedAvg")])
    spec = {"text": "t", "kind": "close", "metric": "loss", "tol": 1, "settings": [{"arm": "FedProx μ=1"}, {}]}
    with pytest.raises(UserError, match="2 result rows"):
        evaluate(ROWS, [spec])


def test_an_unknown_kind_is_an_error():
    with pytest.raises(UserError, match="kind must be one of order, close, within"):
        evaluate(ROWS, [{"text": "t", "kind": "greater"}])
