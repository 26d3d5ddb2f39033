"""Writes never follow a symlink: planted links at temp names and at targets leave the outside alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedhive.cli import main
from fedhive.errors import UserError
from fedhive.run_folder.files import atomic_write, atomic_writer, open_append

SMALL = ["data.clients=20", "data.batch_size=20", "data.batches.min=1", "data.batches.max=1",
         "cohort.min=2", "cohort.max=2", "data.test_size=20", "checkpoint.every=1"]
SECRET = b"outside the run folder\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    path = tmp_path / "outside" / "victim"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def test_a_link_at_the_temp_name_is_not_followed(tmp_path, outside):
    target = tmp_path / "summary.json"
    (tmp_path / ".summary.json.tmp").symlink_to(outside)
    atomic_write(target, b"{}")
    assert target.read_bytes() == b"{}" and not target.is_symlink()
    assert outside.read_bytes() == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == [".summary.json.tmp", "outside", "summary.json"]


def test_a_streamed_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "parsed.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_writer(target) as f:
            f.write(b"new, partly")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["parsed.pt"]
    with atomic_writer(target) as f:
        f.write(b"new")
        f.write(b", whole")
    assert target.read_bytes() == b"new, whole"


def test_a_link_at_the_target_is_refused(tmp_path, outside):
    target = tmp_path / "summary.json"
    target.symlink_to(outside)
    with pytest.raises(UserError, match="summary.json is a symbolic link; refusing to write through it"):
        atomic_write(target, b"{}")
    with pytest.raises(UserError, match="is a symbolic link"):
        open_append(target)
    assert outside.read_bytes() == SECRET
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def finished_run(tmp_path: Path) -> Path:
    assert main(["run", *SMALL, "rounds=2", f"output_dir={tmp_path / 'runs'}", "name=r", "-q"]) == 0
    return tmp_path / "runs" / "r"


@pytest.mark.parametrize("planted", [".summary.json.tmp", "checkpoints/.round-000003.ckpt.tmp", ".metrics.csv.tmp"])
def test_resume_with_planted_temp_links_leaves_the_outside_alone(tmp_path, outside, planted):
    run_dir = finished_run(tmp_path)
    (run_dir / planted).symlink_to(outside)
    assert main(["resume", str(run_dir), "rounds=3", "-q"]) == 0
    assert outside.read_bytes() == SECRET
    assert (run_dir / "checkpoints" / "round-000003.ckpt").is_file()


@pytest.mark.parametrize("target", ["metrics.jsonl", "summary.json", "config.yaml", "metrics.csv", "environment.json"])
def test_resume_refuses_a_linked_target(tmp_path, outside, capsys, target):
    run_dir = finished_run(tmp_path)
    content = (run_dir / target).read_bytes()  # a readable file, so only the write can refuse
    outside.write_bytes(content)
    (run_dir / target).unlink()
    (run_dir / target).symlink_to(outside)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "rounds=3", "-q"]) == 2
    assert outside.read_bytes() == content
    assert "is a symbolic link; refusing to write through it" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["checkpoints", "plots"])
def test_resume_refuses_a_linked_folder(tmp_path, capsys, folder):
    run_dir = finished_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (run_dir / folder).rename(elsewhere)  # its files readable there, so only a write can refuse
    (run_dir / folder).symlink_to(elsewhere, target_is_directory=True)
    before = sorted(p.name for p in elsewhere.iterdir())
    capsys.readouterr()
    assert main(["resume", str(run_dir), "rounds=3", "-q"]) == 2
    assert f"{folder} is a symbolic link; refusing to write through it" in capsys.readouterr().err
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_plot_refuses_a_linked_png(tmp_path, outside, capsys):
    run_dir = finished_run(tmp_path)
    (run_dir / "plots" / "loss.png").unlink()
    (run_dir / "plots" / "loss.png").symlink_to(outside)
    assert main(["plot", str(run_dir)]) == 2
    assert outside.read_bytes() == SECRET


def test_metrics_and_summary_never_hold_nan(tmp_path):
    import json
    import math

    from fedhive.config import load_config
    from fedhive.run_folder.recorder import Recorder, json_line

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rec = Recorder(run_dir, load_config(None, []))
    rec.log({"round": 1, "train_loss": math.nan, "test_loss": math.inf, "nested": [1.0, -math.inf]})
    rec.close({"final_test_loss": math.nan, "best_test_accuracy": 0.5})
    strict = lambda text: json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))  # noqa: E731
    assert strict((run_dir / "metrics.jsonl").read_text()) == {"round": 1, "train_loss": None, "test_loss": None,
                                                                "nested": [1.0, None]}
    assert strict((run_dir / "summary.json").read_text()) == {"final_test_loss": None, "best_test_accuracy": 0.5}
    assert json_line({"a": 1}) == '{"a": 1}\n'


def test_a_new_run_folder_appears_with_its_config(tmp_path):
    from fedhive.config import load_config
    from fedhive.run_folder.recorder import new_run_dir
    from fedhive.run_folder.resume import resume_experiment

    config = load_config(None, [*SMALL, "rounds=1", f"output_dir={tmp_path / 'runs'}", "name=r"])
    first, second = new_run_dir(config), new_run_dir(config)
    assert (first.name, second.name) == ("r", "r-2")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r", "r-2"]  # no staging left
    assert (first / "config.yaml").read_text() == (second / "config.yaml").read_text()
    with pytest.warns(UserWarning, match="no checkpoint yet; starting again from round 0"):
        exp = resume_experiment(first)  # killed before any round: resumable from round 0
    assert exp.run()[-1]["round"] == 1
