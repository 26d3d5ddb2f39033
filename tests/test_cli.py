"""The command line: run with overrides, plot, validate, help, and exit 2 on user errors."""

import json
from pathlib import Path

import pytest


def test_run_with_config_and_overrides_writes_a_run_folder(cli, tmp_path):
    from tests.conftest import REPO

    res = cli("run", str(REPO / "configs/reference.yaml"), "rounds=3", "seed=3", "cohort.min=5", "cohort.max=10",
              "name=small")
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout and "runs/small" in res.stdout
    summary = json.loads((tmp_path / "runs/small/summary.json").read_text())
    assert summary["rounds"] == 3
    rows = (tmp_path / "runs/small/metrics.jsonl").read_text().splitlines()
    assert all(5 <= json.loads(r)["clients"] <= 10 for r in rows)


def test_a_config_file_without_a_name_names_the_folder_after_the_file(cli, tmp_path):
    import re

    (tmp_path / "my_study.yaml").write_text("rounds: 1\n")
    res = cli("run", "my_study.yaml", "--quiet")
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"runs/my_study-\d{8}-\d{6}", res.stdout.strip()), res.stdout
    assert (tmp_path / res.stdout.strip() / "summary.json").is_file()
    res = cli("run", "rounds=1", "--quiet")  # no file: the folder is the time alone
    assert re.fullmatch(r"runs/\d{8}-\d{6}", res.stdout.strip()), res.stdout


def test_quiet_prints_only_the_run_folder_and_plot_redraws(cli, tmp_path):
    res = cli("run", "rounds=2", "--quiet", "name=q")
    assert res.returncode == 0 and res.stdout.strip() == "runs/q" and res.stderr == ""
    png = tmp_path / "runs/q/plots/loss.png"
    png.unlink()
    res = cli("plot", "runs/q")
    assert res.returncode == 0 and png.is_file()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "rounds=abc"], "rounds: Input should be a valid integer"),
        (["run", "rounds=-1"], "rounds: Input should be greater than or equal to 1"),
        (["run", "configs/reference.yaml", "nokey"], "override 'nokey': expected key=value"),
        (["run", "missing.yaml"], "config file not found: missing.yaml"),
        (["run", "cohort.min=30"], "cohort: min (30) must be <= max (29)"),
        (["run", "bogus.field=1"], "bogus: unknown key"),
        (["validate", "rounds=1.5"], "rounds: Input should be a valid integer"),
        (["plot", "nowhere"], "nowhere: not a run folder"),
    ],
)
def test_user_errors_exit_2_with_one_line(cli, tmp_path, args, fragment):
    from tests.conftest import REPO

    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs/reference.yaml").write_text((REPO / "configs/reference.yaml").read_text())
    res = cli(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in res.stderr
    assert not Path(tmp_path / "runs").exists()


def test_help_for_every_command(cli):
    res = cli("--help")
    assert res.returncode == 0 and "run" in res.stdout and "plot" in res.stdout
    for sub in ("run", "validate", "plot"):
        res = cli(sub, "--help")
        assert res.returncode == 0 and "usage: fedhive " + sub in res.stdout


def test_validate_prints_the_resolved_config(cli):
    res = cli("validate", "rounds=7")
    assert res.returncode == 0 and "rounds: 7" in res.stdout and "- name: adam" in res.stdout
    assert "algorithm:\n  name: fedsgd\n" in res.stdout


def test_version_and_run_help_point_to_the_config_reference(cli):
    import fedhive

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"fedhive {fedhive.__version__}"
    res = cli("run", "--help")
    assert res.returncode == 0 and "`fedhive\nconfig` lists every field" in res.stdout


def test_run_shows_a_loading_line_and_resume_says_where_it_starts(cli, tmp_path):
    res = cli("run", "rounds=2", "name=r", "checkpoint.every=1", "data.clients=50", "cohort.min=3", "cohort.max=5")
    assert res.returncode == 0 and res.stderr.startswith("loading data (reference) and building the model")
    res = cli("resume", "runs/r", "rounds=3")
    assert res.returncode == 0 and "resuming from round 2 of 3" in res.stderr


def test_data_save_refuses_to_overwrite_without_force(cli, tmp_path):
    args = ["data.name=digits", "data.clients=10", "cohort.min=2", "cohort.max=2", "model.name=logistic"]
    (tmp_path / "d.pt").write_text("keep me")
    res = cli("data", "save", "d.pt", *args)
    assert res.returncode == 2 and "d.pt exists; pass --force to overwrite it" in res.stderr
    assert (tmp_path / "d.pt").read_text() == "keep me"
    res = cli("data", "save", "d.pt", *args, "--force")
    assert res.returncode == 0 and "sha256" in res.stdout


def test_api_run_applies_overrides_to_a_config(tmp_path):
    import fedhive

    config = fedhive.load_config(None, [f"output_dir={tmp_path}", "data.clients=50", "cohort.min=3", "cohort.max=5"])
    rows = fedhive.run(config, ["rounds=2", "seed=4"], save=False)
    assert len(rows) == 2


def test_the_progress_bar_shows_an_eta():
    from rich.progress import TimeRemainingColumn

    from fedhive.run_folder.progress import RoundProgress

    bar = RoundProgress(3)
    try:
        assert any(isinstance(c, TimeRemainingColumn) for c in bar._progress.columns)
    finally:
        bar.close()


def test_start_up_pauses_the_collector_then_freezes_what_it_built():
    import gc

    from fedhive.cli import start_up

    frozen = gc.get_freeze_count()
    try:
        with start_up():
            assert not gc.isenabled()
            built = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(built)
        with pytest.raises(ValueError), start_up():  # an error in start-up leaves the collector running
            raise ValueError("bad config")
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_main_leaves_nothing_frozen(tmp_path):
    import gc

    from fedhive.cli import main

    assert main(["run", "-q", "rounds=1", f"output_dir={tmp_path}"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
