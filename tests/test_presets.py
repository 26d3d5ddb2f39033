"""Presets and the explicit form of the algorithm config: merging, validation, the chain built."""

from __future__ import annotations

import pytest

from fedhive.algorithms import build_algorithm
from fedhive.config import Config, ServerConfig, build_config, load_config
from fedhive.errors import UserError
from fedhive.models.registry import build_model
from fedhive.presets import PRESETS
from tests.conftest import REPO


def test_fedsgd_preset_is_the_reference_experiment():
    assert load_config(None, ["algorithm=fedsgd"]).model_dump(exclude={"algorithm"}) == \
        Config().model_dump(exclude={"algorithm"})


def test_a_preset_fills_client_and_server_and_user_values_win():
    c = load_config(None, ["algorithm=fedprox", "client.mu=0.1", "server.lr=0.5"])
    assert (c.client.name, c.client.mu, c.client.lr) == ("proximal", 0.1, 0.1)
    assert (c.server.aggregate, c.server.optimizer, c.server.lr) == ("weighted_mean", "sgd", 0.5)
    c = build_config({"algorithm": "fedyogi", "server": {"eps": 0.01}})
    assert (c.server.optimizer, c.server.eps, c.server.bias_correction) == ("yogi", 0.01, False)


def test_resolved_config_reloads_to_the_same_config(tmp_path):
    from fedhive.config import dump_config

    c = load_config(None, ["algorithm=fedadam", "server.lr=0.2"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(c))
    assert load_config(path) == c


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_has_a_config_file_that_builds(name):
    config = load_config(REPO / f"configs/{name if name != 'fedsgd' else 'reference'}.yaml")
    assert config.algorithm in (name, None)
    build_algorithm(config, build_model(config.model, 2, 0))


def test_explicit_server_list_builds_a_named_chain():
    c = load_config(REPO / "configs/custom_chain.yaml")
    assert [s.name for s in c.server] == ["norm_bound", "trimmed_mean", "momentum"]
    alg = build_algorithm(c, build_model(c.model, 2, 0))
    state = alg.server.init(build_model(c.model, 2, 0).initial_params())
    assert list(state) == ["norm_bound", "trimmed_mean", "momentum"]


def test_mapping_form_is_the_same_chain_as_a_list():
    s = ServerConfig(aggregate="krum", f=2, optimizer="adam", lr=0.1, max_norm=3.0)
    assert [t.model_dump() for t in s.transforms()] == [
        {"name": "norm_bound", "max_norm": 3.0},
        {"name": "krum", "f": 2},
        {"name": "adam", "lr": 0.1, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "bias_correction": True},
    ]


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["algorithm=fedfoo"], "algorithm: Input should be 'fedsgd'"),
        (["server=[{name: sgd}, {name: mean}]"], "server: order must be client-stage transforms"),
        (["server=[{name: mean}, {name: median}, {name: sgd}]"], "server: needs exactly one aggregate"),
        (["server=[{name: meen}]"], "server.0: Input tag 'meen'"),
        (["server=[{name: mean}, {name: sgd, lr: 0}]"], "server.1.sgd.lr: Input should be greater than 0"),
        (["server=[{name: trimmed_mean, beta: 0.5}, {name: sgd}]"], "server.0.trimmed_mean.beta"),
        (["server.aggregate=krum", "server.f=14"], "server: krum with f=14 needs cohort.min > 2f + 2 = 30"),
        (["client.name=scafold"], "client.name: Input should be"),
        (["attack={name: sign_flip, fraction: 1.5}"], "attack.fraction: Input should be less than or equal to 1"),
        (["attack={name: flip}"], "attack.name: Input should be"),
    ],
)
def test_bad_algorithm_configs_name_the_field(overrides, fragment):
    with pytest.raises(UserError) as e:
        build_config({}, overrides)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_list_items_take_dotted_overrides_by_index():
    c = build_config({"server": [{"name": "mean"}, {"name": "adam", "lr": 0.1}]}, ["server.1.lr=0.3"])
    assert c.server[1].lr == 0.3
    with pytest.raises(UserError, match="server is a list of 2 items: override an item as server.<index>"):
        build_config({"server": [{"name": "mean"}, {"name": "sgd"}]}, ["server.lr=2"])
