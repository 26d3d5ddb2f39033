"""The sweep grid: value lists, ranges, zip groups, hashing and validation before any run."""

from __future__ import annotations

import pytest

from fedhive.errors import UserError
from fedhive.sweep.grid import expand, parse_axis, resolve, run_name


def test_cross_product_in_argument_order():
    points = expand([parse_axis("server.lr=0.1,0.5"), parse_axis("rounds=3"), parse_axis("seed=0..2")])
    assert [p.overrides for p in points[:3]] == [
        ("server.lr=0.1", "rounds=3", "seed=0"), ("server.lr=0.1", "rounds=3", "seed=1"),
        ("server.lr=0.1", "rounds=3", "seed=2")]
    assert len(points) == 6 and len({p.run for p in points}) == 6
    assert points[0].swept == {"server.lr": "0.1", "seed": "0"}  # fixed keys are not part of a setting


def test_zip_pairs_values_and_brackets_keep_lists_whole():
    axis = parse_axis("zip:server.lr,client.lr=0.1,1.0;0.5,2.0")
    assert axis == (("server.lr", "client.lr"), (("0.1", "1.0"), ("0.5", "2.0")))
    assert parse_axis("model.hidden=[64,64],[128]").values == (("[64,64]",), ("[128]",))
    assert [p.overrides for p in expand([axis])] == [("server.lr=0.1", "client.lr=1.0"),
                                                      ("server.lr=0.5", "client.lr=2.0")]


def test_run_name_ignores_override_order():
    assert run_name(("a=1", "b=2")) == run_name(("b=2", "a=1")) != run_name(("a=1", "b=3"))
    assert len(run_name(("a=1",))) == 8


@pytest.mark.parametrize("arg, message", [
    ("seed=0..", "a range needs both ends"),
    ("seed=..3", "a range needs both ends"),
    ("seed=3..1", "the range is empty"),
    ("x=", "empty value"),
    ("server.lr=0.1,,0.5", "empty value"),
    ("nokey", "expected key=value"),
    ("a,b=1,2", "several keys need the zip: form"),
    ("zip:a,b=1,2;3", "each ';'-separated group needs 2 values"),
    ("zip:a=1", "zip: needs two or more keys"),
])
def test_bad_syntax_names_the_argument(arg, message):
    with pytest.raises(UserError, match=message):
        parse_axis(arg)


def test_every_point_is_validated_before_running(tmp_path):
    with pytest.raises(UserError, match=r"sweep point rounds=0: config error: rounds"):
        resolve(None, ["rounds=5,0"], str(tmp_path))
    with pytest.raises(UserError, match="nosuch: unknown key"):
        resolve(None, ["nosuch=1,2"], str(tmp_path))
    with pytest.raises(UserError, match="seed is given more than once"):
        resolve(None, ["seed=1,2", "seed=3"], str(tmp_path))
    points = resolve(None, ["seed=0..1"], str(tmp_path / "sw"))
    assert [(c.seed, c.name, c.output_dir) for _, c in points] == [
        (0, points[0][0].run, str(tmp_path / "sw")), (1, points[1][0].run, str(tmp_path / "sw"))]
