"""The dry run: `validate` rejects every config `run` rejects at its start, with the same
line and nothing on disk; a model that cannot train fails before any round."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fedhive.cli import main
from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment

SMALL = ["rounds=2", "data.clients=50", "cohort.min=3", "cohort.max=5", "data.batch_size=50", "data.test_size=100"]


def one_error_line(capsys, *args: str) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one error line."""
    capsys.readouterr()
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fedhive: error: "), lines
    return lines[0]


def write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))


REJECTED_AT_START = {
    "missing data file": (["data.name=file", "data.path=nope.pt"], "data.path: nope.pt not found"),
    "bad model path": (["model.name=nomod_xyz:Net"], "model.name: cannot import nomod_xyz:Net"),
    "missing trace": (["system.trace=nope.csv"], "system.trace: trace file not found: nope.csv"),
    "cuda on a CPU machine": (["device=cuda"], "device: cuda is not available"),
    "central DP, ranged cohort": (["privacy.mechanism=central", "privacy.noise_multiplier=1"],
                                  "central DP needs cohort.sampler=poisson or a fixed cohort size"),
    "secagg + median": (["privacy.secagg.enabled=true", "server.aggregate=median"],
                        "privacy.secagg needs the server aggregate sum or mean"),
    "cnn on 2-feature data": (["model.name=cnn"], "cnn needs image inputs"),
    "bce on 10 classes": (["data.name=digits"], "model.loss: bce needs 2 classes, the dataset has 10"),
    "Fashion-MNIST not installed": (["data.name=fashion_mnist", "model.name=logistic"],
                                    "fashion_mnist: no IDX files"),
}


@pytest.mark.parametrize("case", list(REJECTED_AT_START))
def test_validate_rejects_what_run_rejects_with_the_same_line(case, capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEDHIVE_DATA", raising=False)
    monkeypatch.setenv("FEDHIVE_ALLOW_CODE", "1")  # the model-path case needs the opt-in to get that far
    monkeypatch.setattr("fedhive.data.datasets.DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    overrides, fragment = REJECTED_AT_START[case]
    from_run = one_error_line(capsys, "run", "-q", *SMALL, *overrides)
    from_validate = one_error_line(capsys, "validate", *SMALL, *overrides)
    assert fragment in from_validate and from_validate == from_run
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_validate_is_silent_about_sections_not_in_use(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 60
    for unused in ("privacy:", "compression:", "asynchronous:", "system:", "synthetic:", "hidden:", "workers:"):
        assert unused not in out
    assert main(["validate", "privacy.mechanism=local", "privacy.noise_multiplier=0.5"]) == 0
    assert "privacy:" in capsys.readouterr().out
    assert main(["validate", *SMALL, "data.name=digits", "data.batch_size=10", "model.name=resnet",
                 "model.channels=[4,8]"]) == 0
    out = capsys.readouterr().out
    assert "channels:" in out and "name: resnet" in out
    for unused in ("embedding:", "lstm:", "dense:", "batches:", "test_size:", "vocab_size:", "label_column:"):
        assert unused not in out


def test_fednova_runs_in_async_mode(tmp_path):
    config = load_config(None, [*SMALL, "algorithm=fednova", "mode=async", "asynchronous.concurrency=10", "rounds=3",
                                f"output_dir={tmp_path}"])
    rows = Experiment(config).run()
    assert [r["round"] for r in rows] == [1, 2, 3] and rows[-1]["test_accuracy"] is not None


MODELS = {
    "wrong input size": ("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(5, 2)
            def forward(self, x):
                return self.fc(x)
        """, "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    "output does not fit the loss": ("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 3)
            def forward(self, x):
                return self.fc(x)
        """, "ValueError: output shape (8, 3), expected (8, 2)"),
    "unsupported op": ("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
            def forward(self, x):
                scale = float(self.fc.weight.numpy().sum())  # leaves autograd: fails under grad
                return self.fc(x) * scale
        """, "RuntimeError"),
}


@pytest.mark.parametrize("case", list(MODELS))
def test_a_model_that_cannot_train_is_one_line_before_any_round(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # also cleans up sys.path
    body, fragment = MODELS[case]
    name = f"usermodel_{abs(hash(case))}"
    write_module(tmp_path, name, body)
    line = one_error_line(capsys, "run", "-q", "--allow-code", *SMALL, f"model.name={name}:Net",
                          "model.loss=cross_entropy")
    assert line.startswith(f"fedhive: error: model.name: {name}:Net cannot train on inputs of shape (2,) (2 classes): ")
    assert fragment in line
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.py"]  # no run folder


def test_the_working_folder_is_importable_for_a_user_model(tmp_path, monkeypatch):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    write_module(tmp_path, "cwd_model_xyz", """
        class Net(nn.Module):
            def __init__(self, input_shape, num_classes):
                super().__init__()
                self.fc = nn.Linear(input_shape[0], num_classes)
            def forward(self, x):
                return self.fc(x)
        """)
    exp = Experiment(load_config(None, [*SMALL, "model.name=cwd_model_xyz:Net"]))
    assert exp.model.num_params == 2 * 2 + 2


def test_paths_in_a_config_file_are_relative_to_it_and_overrides_to_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/cfg.yaml").write_text("data: {name: file, path: data/x.pt}\nsystem: {trace: t.csv}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("exp/cfg.yaml")
    assert (config.data.path, config.system.trace) == ("exp/data/x.pt", "exp/t.csv")
    config = load_config("exp/cfg.yaml", ["data.path=other.pt"])
    assert config.data.path == "other.pt"


def test_a_key_given_twice_in_a_yaml_file_is_an_error(tmp_path):
    (tmp_path / "dup.yaml").write_text("rounds: 3\ncohort: {min: 2, max: 4}\nrounds: 5\n")
    with pytest.raises(UserError, match=r"duplicate key 'rounds' \(line 3\)"):
        load_config(tmp_path / "dup.yaml")
