"""The algorithm section: defaults under the user's values, hyperparameters validated
and resolved, fields that do not apply rejected, and the one (list) form of `server`."""

from __future__ import annotations

import pytest

from fedhive.algorithms.build import build_algorithm
from fedhive.algorithms.registry import registered
from fedhive.config import Config, ServerConfig, build_config, dump_config, load_config
from fedhive.errors import UserError
from fedhive.models.registry import build_model
from tests.conftest import REPO


def test_fedsgd_is_the_reference_experiment_and_its_defaults_are_the_section_defaults():
    assert load_config(None, ["algorithm=fedsgd"]) == Config()
    assert build_config(dict(registered()["fedsgd"].defaults)) == Config()


def test_an_algorithm_fills_client_and_server_and_user_values_win():
    c = load_config(None, ["algorithm=fedprox", "algorithm.mu=0.1", "server.lr=0.5"])
    assert (c.algorithm.name, c.algorithm.mu, c.client.lr) == ("fedprox", 0.1, 0.1)
    assert [t.model_dump() for t in c.server] == [{"name": "weighted_mean"}, {"name": "sgd", "lr": 0.5, "lr_schedule": None}]
    c = build_config({"algorithm": "fedyogi", "server": {"eps": 0.01}})
    assert c.server[1].model_dump() == {"name": "yogi", "lr": 0.03, "lr_schedule": None, "b1": 0.9, "b2": 0.99, "eps": 0.01,
                                        "bias_correction": False}


def test_a_yaml_algorithm_takes_dotted_hyperparameters():
    c = build_config({"algorithm": "fedprox"}, ["algorithm.mu=0.5"])
    assert (c.algorithm.name, c.algorithm.mu) == ("fedprox", 0.5)
    assert load_config(None, ["algorithm=fedprox"]).algorithm.mu == 0.01  # resolved, so dumped


def test_resolved_config_reloads_to_the_same_config(tmp_path):
    c = load_config(None, ["algorithm=fedprox", "algorithm.mu=0.2", "server.lr=0.2"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(c))
    assert load_config(path) == c
    assert "mu: 0.2" in path.read_text()


@pytest.mark.parametrize("name", [n for n in registered() if (REPO / f"configs/{n}.yaml").exists()] + ["reference"])
def test_every_algorithm_config_file_builds(name):
    config = load_config(REPO / f"configs/{name}.yaml")
    assert config.algorithm.name == (name if name != "reference" else "fedsgd")
    build_algorithm(config, build_model(config.model, 2, 0))


def test_explicit_server_list_builds_a_named_chain():
    c = load_config(REPO / "configs/custom_chain.yaml")
    assert [s.name for s in c.server] == ["norm_bound", "trimmed_mean", "momentum"]
    alg = build_algorithm(c, build_model(c.model, 2, 0))
    state = alg.server.init(build_model(c.model, 2, 0).initial_params())
    assert list(state) == ["norm_bound", "trimmed_mean", "momentum"]


def test_mapping_form_is_the_same_chain_as_a_list_and_is_stored_as_one():
    s = ServerConfig(aggregate="krum", f=2, optimizer="adam", lr=0.1, max_norm=3.0)
    expected = [
        {"name": "norm_bound", "max_norm": 3.0},
        {"name": "krum", "f": 2},
        {"name": "adam", "lr": 0.1, "lr_schedule": None, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "bias_correction": True},
    ]
    assert [t.model_dump() for t in s.transforms()] == expected
    c = build_config({"cohort": {"min": 7}, "server": s.model_dump(exclude_unset=True)})
    assert [t.model_dump() for t in c.server] == expected


def test_secagg_reads_the_list_form():
    c = load_config(None, ["server=[{name: sum}, {name: sgd}]", "privacy.secagg.enabled=true"])
    alg = build_algorithm(c, build_model(c.model, 2, 0))
    assert "secagg" in alg.server.init(build_model(c.model, 2, 0).initial_params())
    bad = load_config(None, ["server=[{name: median}, {name: sgd}]", "privacy.secagg.enabled=true"])
    with pytest.raises(UserError, match="privacy.secagg needs the server aggregate sum or mean, got median"):
        build_algorithm(bad, build_model(bad.model, 2, 0))


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["algorithm=fedfoo"], "algorithm.name: unknown algorithm 'fedfoo'; use one of apfl, ditto, fedadagrad"),
        (["algorithm.name=fedfoo"], "algorithm.name: unknown algorithm 'fedfoo'"),
        (["algorithm=fedprox", "algorithm.mu=-1"], "algorithm.mu: Input should be greater than or equal to 0"),
        (["algorithm=fedavg", "algorithm.mu=0.1"], "algorithm.mu: not a hyperparameter of fedavg (used by fedprox"),
        (["client.mu=0.1"], "client.mu: a hyperparameter of fedprox: set algorithm.mu"),
        (["client.name=scaffold"], "client.name: the client update comes with the algorithm"),
        (["client.lr=0.5"], "client.lr: fedsgd does not train locally"),
        (["server.f=2"], "server.f: not used by sum and adam; it applies to krum, multi_krum"),
        (["server.aggregate=mean", "server.beta=0.2"], "server.beta: not used by mean and adam; it applies to trimmed_mean"),
        (["algorithm=fedavg", "server.b1=0.5"], "server.b1: not used by weighted_mean and sgd; it applies to adam"),
        (["algorithm=mypkg_missing.mod:ALGORITHM"], "algorithm.name: cannot import mypkg_missing.mod"),
        (["algorithm=fedhive.config:Config"], "algorithm.name: fedhive.config:Config is not a subclass of Algorithm"),
        (["server=[{name: sgd}, {name: mean}]"], "server: order must be client-stage transforms"),
        (["server=[{name: mean}, {name: median}, {name: sgd}]"], "server: needs exactly one aggregate"),
        (["server=[{name: meen}]"], "server.0: Input tag 'meen'"),
        (["server=[{name: mean}, {name: sgd, lr: 0}]"], "server.1.sgd.lr: Input should be greater than 0"),
        (["server=[{name: trimmed_mean, beta: 0.5}, {name: sgd}]"], "server.0.trimmed_mean.beta"),
        (["server.aggregate=krum", "server.f=14"], "server: krum with f=14 needs cohort.min > 2f + 2 = 30"),
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
