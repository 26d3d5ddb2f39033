"""Every server transform's config spec has its factory's defaults: one default each."""

from __future__ import annotations

import inspect

import pytest

from fedhive.algorithms.build import TRANSFORMS
from fedhive.algorithms.server_specs import SPECS


@pytest.mark.parametrize("name", SPECS)
def test_spec_defaults_are_the_factory_defaults(name):
    factory = inspect.signature(TRANSFORMS[name]).parameters
    spec = SPECS[name].model_fields
    assert set(factory) == set(spec) - {"name", "lr_schedule"}  # a schedule reaches the factory as its lr
    for arg, p in factory.items():
        if p.default is not inspect.Parameter.empty:
            assert spec[arg].default == p.default, (name, arg)


def test_yogi_and_adagrad_default_to_tau_1e_3_in_both_forms():
    from fedhive.config import load_config

    for optimizer in ("yogi", "adagrad"):
        mapping = load_config(None, [f"server.optimizer={optimizer}"]).server[1]
        listed = load_config(None, [f"server=[{{name: sum}}, {{name: {optimizer}}}]"]).server[1]
        assert mapping.eps == listed.eps == 1e-3
