"""Every ready config in configs/ validates, so a user's first command never fails on it."""

import pytest

from fedhive.config import load_config
from tests.conftest import REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_there_are_ready_configs():
    names = {p.stem for p in CONFIGS}
    assert {"reference", "fedavg", "dp_fedavg_digits", "digits_dirichlet", "fedbuff_lognormal"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_validates(path):
    config = load_config(path)
    assert config.rounds >= 1
