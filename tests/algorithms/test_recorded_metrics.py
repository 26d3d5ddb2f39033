"""Every algorithm reproduces, exactly, the metrics recorded before the algorithm modules
existed: same cohort, same updates, same server steps, on both single-process engines."""

from __future__ import annotations

import json
import warnings

import pytest

from tests.algorithms.recorded_cases import CASES, ENGINES, FIXTURE, run_case

RECORDED = json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", CASES)
def test_metrics_equal_the_recorded_ones(name, engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NaN cases warn about dropped clients
        got = run_case(name, engine)
    assert got == RECORDED[f"{name}/{engine}"]
