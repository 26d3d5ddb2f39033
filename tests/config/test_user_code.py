"""Code named in a config runs only with an opt-in, and only if it is what the field expects."""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import pytest
import yaml
from torch import nn

from fedhive.cli import main
from fedhive.config.user_code import ENV, command_line_policy, import_object
from fedhive.errors import UserError

SMALL = ["data.clients=20", "data.batch_size=20", "data.batches.min=1", "data.batches.max=1",
         "cohort.min=2", "cohort.max=2", "data.test_size=20", "rounds=1"]


def reap_children() -> None:
    """Wait for any child a call may have started, so a stray command has finished."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def attack_config(path: Path, spec: str, marker: Path, out: Path) -> Path:
    """A config naming `spec` with kwargs that would create `marker` if called."""
    kwargs = {"path": str(marker)} if spec == "os:mkdir" else {"args": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]}
    path.write_text(yaml.safe_dump({"model": {"name": spec, "kwargs": kwargs}, "output_dir": str(out)}))
    return path


@pytest.fixture(autouse=True)
def no_env_opt_in(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.mark.parametrize("spec", ["subprocess:Popen", "subprocess:run", "os:mkdir"])
@pytest.mark.parametrize("opt_in", [[], ["--allow-code"]])
def test_run_of_a_config_naming_a_callable_runs_nothing(tmp_path, capsys, spec, opt_in):
    marker = tmp_path / "pwned"
    cfg = attack_config(tmp_path / "evil.yaml", spec, marker, tmp_path / "runs")
    assert main(["run", str(cfg), *SMALL, "-q", *opt_in]) == 2
    reap_children()
    assert not marker.exists()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("fedhive: error: model.name:")
    assert ("--allow-code" in err) == (not opt_in)
    if opt_in:
        kind = "an instance" if spec.startswith("os:") or spec == "subprocess:run" else "a subclass"
        assert f"{spec} is not {kind} of Module" in err


def test_validate_needs_the_opt_in_and_checks_the_class(tmp_path, capsys):
    marker = tmp_path / "pwned"
    cfg = attack_config(tmp_path / "evil.yaml", "subprocess:Popen", marker, tmp_path / "runs")
    assert main(["validate", str(cfg)]) == 2
    assert "--allow-code" in capsys.readouterr().err
    assert main(["validate", str(cfg), "--allow-code"]) == 2
    assert "subprocess:Popen is not a subclass of Module" in capsys.readouterr().err
    reap_children()
    assert not marker.exists()


def finished_run(tmp_path: Path) -> Path:
    assert main(["run", *SMALL, f"output_dir={tmp_path / 'runs'}", "name=r", "-q"]) == 0
    return tmp_path / "runs" / "r"


def plant(run_dir: Path, spec: str, marker: Path) -> None:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["model"] = {**cfg["model"], "name": spec, "kwargs": {"args": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.parametrize("extra", [[], ["--allow-code"], ["--force"]])
def test_resume_of_a_planted_config_builds_nothing(tmp_path, capsys, extra):
    run_dir = finished_run(tmp_path)
    marker = tmp_path / "pwned"
    plant(run_dir, "subprocess:Popen", marker)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "rounds=2", "-q", *extra]) == 2
    reap_children()
    assert not marker.exists()
    err = capsys.readouterr().err
    # The hash check comes first: without --force the mismatch is refused before any import.
    assert ("resume would change the results: model.kwargs" in err) == ("--force" not in extra)


def test_resume_with_force_and_opt_in_still_checks_the_class(tmp_path, capsys):
    run_dir = finished_run(tmp_path)
    marker = tmp_path / "pwned"
    plant(run_dir, "subprocess:Popen", marker)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "rounds=2", "-q", "--force", "--allow-code"]) == 2
    reap_children()
    assert not marker.exists()
    assert "subprocess:Popen is not a subclass of Module" in capsys.readouterr().err


def test_resume_without_checkpoint_needs_the_opt_in(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "fresh"
    run_dir.mkdir(parents=True)
    marker = tmp_path / "pwned"
    attack_config(run_dir / "config.yaml", "subprocess:Popen", marker, tmp_path / "runs")
    assert main(["resume", str(run_dir), "-q"]) == 2
    reap_children()
    assert not marker.exists()
    assert "--allow-code" in capsys.readouterr().err


def test_import_object_checks_the_type_before_use():
    with command_line_policy(allow_code=True):
        assert import_object("torch.nn:Linear", "model.name", nn.Module) is nn.Linear
        with pytest.raises(UserError, match=r"^model.name: collections:OrderedDict is not a subclass of Module"):
            import_object("collections:OrderedDict", "model.name", nn.Module)
        with pytest.raises(UserError, match=r"^model.name: cannot import nope_pkg:X"):
            import_object("nope_pkg:X", "model.name")
        with pytest.raises(UserError, match="not of the form"):
            import_object("collections", "model.name")
    assert import_object("collections:OrderedDict", "algorithm.name") is collections.OrderedDict


def test_opt_in_by_env_and_python_api(monkeypatch):
    with command_line_policy(allow_code=False):
        with pytest.raises(UserError, match=r"^algorithm.name: mypkg.mod:ALGORITHM names code to import"):
            import_object("mypkg.mod:ALGORITHM", "algorithm.name")
        monkeypatch.setenv(ENV, "1")
        assert import_object("collections:OrderedDict", "x") is collections.OrderedDict
        assert import_object("collections:OrderedDict", "x", allow=True) is collections.OrderedDict
    monkeypatch.delenv(ENV)
    # The Python API (no command-line policy in force) counts as opted in.
    assert import_object("collections:OrderedDict", "x") is collections.OrderedDict
