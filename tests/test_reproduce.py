"""`fedhive reproduce`: the list, user errors, and every --quick variant under a minute
run end to end to a report whose checks pass."""

from __future__ import annotations

import pytest

from fedhive.data.datasets import fashion_mnist_folder
from fedhive.reproduce import spec
from fedhive.reproduce.run import run_reproduction


def test_list_names_every_spec_with_its_title(cli):
    result = cli("reproduce", "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == spec.names()
    assert any("LEAF synthetic dataset statistics" in line for line in lines)


@pytest.mark.parametrize("args, fragment", [
    (["no_such_paper"], "unknown reproduction 'no_such_paper'; one of: dp_fedavg_epsilon"),
    ([], "name a reproduction"),
])
def test_user_errors_exit_2_with_one_line(cli, args, fragment):
    result = cli("reproduce", *args)
    assert result.returncode == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_every_spec_loads_and_its_checks_name_known_kinds():
    from fedhive.reproduce.checks import KINDS

    for name in spec.names():
        s = spec.load(name)
        for variant in (s, spec.variant(s, True) if "quick" in s else s):
            assert variant["checks"] and {c["kind"] for c in variant["checks"]} <= set(KINDS)


def test_arms_become_one_zip_axis_and_are_found_again():
    arms = {"A": ["algorithm={name: fedavg}", "round.straggler_policy=drop"],
            "B": ["algorithm={name: fedprox, mu: 1.0}", "round.straggler_policy=fedprox_epochs"]}
    axis = spec.arm_axis(arms)
    assert axis == ["zip:algorithm,round.straggler_policy={name: fedavg},drop;{name: fedprox, mu: 1.0},fedprox_epochs"]
    assert spec.arm_of({"algorithm": "{name: fedprox, mu: 1.0}", "round.straggler_policy": "fedprox_epochs"},
                       arms) == "B"


FASHION_ABSENT = pytest.mark.skipif(fashion_mnist_folder(None) is None,
                                    reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["leaf_synthetic", "scaffold_quadratic",
                                  pytest.param("dp_fedavg_epsilon", marks=FASHION_ABSENT)])  # trains on Fashion-MNIST
def test_quick_variant_passes_and_writes_its_report(name, tmp_path):
    report, outcomes = run_reproduction(name, quick=True, out=tmp_path / name, quiet=True)
    assert outcomes and all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]
    text = report.read_text(encoding="utf-8")
    assert "## Protocol" in text and "| PASS |" in text and "| FAIL |" not in text
    assert (tmp_path / name / "figure.png").stat().st_size > 1000
    assert (tmp_path / name / "report.html").is_file()


def test_a_failing_check_is_reported_and_exits_1(tmp_path, monkeypatch, capsys):
    from fedhive.cli import main

    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "tiny.yaml").write_text(
        "title: tiny\npaper: none\nprotocol: LEAF sizes of 50 devices\nkind: measure\nmeasure: leaf_statistics\n"
        "params: {seeds: [0], devices: 50}\n"
        "checks:\n  - {text: impossible mean, kind: within, metric: mean, low: 0, high: 1}\n", encoding="utf-8")
    monkeypatch.setattr(spec, "PAPERS", tmp_path / "papers")
    assert main(["reproduce", "tiny", "--out", str(tmp_path / "out")]) == 1
    assert "FAIL  impossible mean" in capsys.readouterr().out
    assert "| impossible mean | FAIL |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_sweep_reproduction_runs_its_arms_and_compares_them(tmp_path, monkeypatch):
    # the reference task, 3 rounds: the server's Adam lr 1 learns, lr 1e-6 barely moves it
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "arms.yaml").write_text(
        "title: arms\npaper: none\nprotocol: reference task, two server learning rates\nkind: sweep\ntarget: 0.8\n"
        "base: {rounds: 3, eval_every: 1}\n"
        "arms: {learns: [server.lr=1.0], frozen: [server.lr=1.0e-6]}\n"
        "sweeps: {main: [seed=0..1]}\n"
        "checks:\n  - {text: learning beats frozen, kind: order, metric: final_accuracy,\n"
        "     settings: [{arm: frozen}, {arm: learns}]}\n"
        "published:\n  - {what: accuracy, value: qualitative, source: none,\n"
        "     ours: {where: {arm: learns}, metric: final_accuracy}}\n", encoding="utf-8")
    monkeypatch.setattr(spec, "PAPERS", tmp_path / "papers")
    report, outcomes = run_reproduction("arms", out=tmp_path / "out", jobs=2, quiet=True)
    assert [o.passed for o in outcomes] == [True]
    text = report.read_text(encoding="utf-8")
    assert "| main | learns | 2 |" in text and "| main | frozen | 2 |" in text
    assert (tmp_path / "out" / "main" / "sweep.csv").is_file() and (tmp_path / "out" / "figure.png").is_file()


@pytest.mark.parametrize("body, fragment", [
    ("kind: measure\nmeasure: nothing\n", "measure: must be one of leaf_statistics"),
    ("kind: sweep\n", "needs base: and sweeps:"),
    ("kind: other\n", "kind: must be sweep or measure"),
])
def test_a_malformed_spec_is_one_line_naming_the_field(tmp_path, body, fragment):
    from fedhive.errors import UserError

    (tmp_path / "bad.yaml").write_text("title: t\npaper: p\nprotocol: x\nchecks: []\n" + body, encoding="utf-8")
    with pytest.raises(UserError, match=fragment):
        spec.load("bad", tmp_path)


@pytest.mark.parametrize("name", [n for n in spec.names() if spec.load(n)["kind"] == "sweep"])
@pytest.mark.parametrize("quick", [False, True])
def test_every_point_of_a_sweep_reproduction_is_a_valid_config(name, quick, tmp_path):
    from fedhive.reproduce.run import write_base
    from fedhive.sweep.grid import resolve

    s = spec.variant(spec.load(name), quick)
    base = write_base(s, tmp_path / "base.yaml")
    for grid in s["sweeps"].values():
        points = resolve(str(base), [*spec.arm_axis(s["arms"]), *grid], str(tmp_path / "out"))
        assert len(points) >= len(s["arms"])
