"""Config defaults, YAML + overrides, and one-line errors for bad input."""

from __future__ import annotations

import pytest

from fedhive.config import Config, apply_overrides, build_config, load_config, parse_overrides
from fedhive.errors import UserError
from tests.conftest import REPO


def test_defaults_are_the_reference_experiment():
    c = Config()
    assert (c.rounds, c.cohort.min, c.cohort.max) == (100, 20, 29)
    assert (c.data.batches.min, c.data.batches.max, c.data.batch_size, c.data.test_size) == (5, 9, 1000, 1000)
    assert c.algorithm.name == "fedsgd"
    assert [t.model_dump() for t in c.server] == [
        {"name": "sum"},
        {"name": "adam", "lr": 1.0, "lr_schedule": None, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "bias_correction": True}]


def test_reference_yaml_equals_defaults():
    assert load_config(REPO / "configs" / "reference.yaml") == Config()


def test_overrides_are_parsed_as_yaml_and_nested():
    c = load_config(REPO / "configs" / "reference.yaml",
                    ["rounds=20", "seed=3", "cohort.min=5", "cohort.max=10", "server.eps=1e-6"])
    assert (c.rounds, c.seed, c.cohort.min, c.cohort.max, c.server[1].eps) == (20, 3, 5, 10, 1e-6)
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_apply_overrides_merges_into_a_raw_mapping_and_leaves_it_unchanged():
    raw = {"rounds": 5, "client": {"lr": 0.1, "epochs": 2}, "server": [{"name": "mean"}, {"name": "sgd", "lr": 1.0}]}
    merged = apply_overrides(raw, ["client.lr=0.01", "server.lr=0.5", "data.clients=10"])
    assert merged == {"rounds": 5, "client": {"lr": 0.01, "epochs": 2},
                      "server": [{"name": "mean"}, {"name": "sgd", "lr": 0.5}], "data": {"clients": 10}}
    assert raw["client"]["lr"] == 0.1 and raw["server"][1]["lr"] == 1.0


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["rounds=abc"], "rounds: Input should be a valid integer"),
        (["rounds=-3"], "rounds: Input should be greater than or equal to 1"),
        (["nokey"], "override 'nokey': expected key=value"),
        (["=3"], "override '=3': expected key=value"),
        (["cohort.min=10", "cohort.max=5"], "cohort: min (10) must be <= max (5)"),
        (["data.batches.min=9", "data.batches.max=5"], "data.batches: min (9) must be <= max (5)"),
        (["colour=red"], "colour: unknown key"),
        (["server.gamma=1"], "server.gamma: unknown key"),
        (["data.clients=10"], "cohort.max (29) is larger than data.clients (10)"),
        (["server.optimizer=adamw"], "server.optimizer: Input should be 'sgd', 'momentum', 'adam', 'yogi' or 'adagrad'"),
        (["rounds=5", "rounds.x=1"], "rounds"),
        (["cohort.min=6", "cohort.max=8", "server.aggregate=bulyan"], "bulyan with f=1 needs cohort.min >= 4f + 3 = 7"),
        (["server.weighted=true"], "weighted: not used by sum and adam; it applies to multi_krum"),
    ],
)
def test_bad_overrides_name_the_field(overrides, fragment):
    with pytest.raises(UserError) as e:
        build_config({}, overrides)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("rounds: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(UserError, match="the config file is empty"):  # a wrong file, most likely
        load_config(tmp_path / "empty.yaml")
