"""Real and user datasets in an experiment, and the `datasets` / `data` commands."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fedhive import Experiment, load_config
from fedhive.data import from_arrays
from fedhive.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
FEDAVG = ["algorithm=fedavg", "server.aggregate=weighted_mean", "server.optimizer=sgd", "server.lr=1.0"]


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "fedhive", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_digits_run_writes_partition_stats_and_client_columns(tmp_path):
    config = load_config(ROOT / "configs" / "digits_dirichlet.yaml",
                         ["rounds=2", f"output_dir={tmp_path}", "name=d", "evaluation.finetune_steps=1"])
    exp = Experiment(config)
    rows = exp.run()
    assert rows[-1]["client_accuracy_min"] <= rows[-1]["client_accuracy_p10"] <= rows[-1]["client_accuracy_mean"]
    assert "personalized_accuracy_mean" in rows[-1]
    stats = json.loads((tmp_path / "d" / "data.json").read_text())
    assert stats["clients"] == config.data.clients and stats["partition"]["name"] == "dirichlet"
    assert (tmp_path / "d" / "plots" / "label_distribution.png").stat().st_size > 1000


def test_reference_run_is_unchanged(tmp_path):
    exp = Experiment(load_config(None, ["rounds=1", f"output_dir={tmp_path}", "name=r"]))
    row = exp.run()[0]
    assert not any(k.startswith("client_accuracy") for k in row)
    assert not (tmp_path / "r" / "data.json").exists()


def test_experiment_with_a_users_dataset():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 5)).astype(np.float32) + np.eye(3, 5, dtype=np.float32)[y] * 3
    ds = from_arrays(x, y, clients=12, partition="iid", batch_size=16, seed=0)
    config = load_config(None, ["rounds=5", "cohort.min=6", "cohort.max=6", "model.name=logistic", *FEDAVG])
    rows = Experiment(config, dataset=ds).run(save=False)
    assert rows[-1]["test_accuracy"] > 0.9
    with pytest.raises(UserError, match=r"cohort.max \(29\) is larger than the dataset's 12 clients"):
        Experiment(load_config(None, ["model.name=logistic"]), dataset=ds)


@pytest.mark.slow
def test_cli_datasets_describe_save_and_errors(tmp_path):
    out = cli("datasets", cwd=tmp_path)
    assert out.returncode == 0
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names[:7] == ["reference", "fedprox_synthetic", "leaf_synthetic", "synthetic", "digits", "fashion_mnist", "idx"]
    assert {"femnist", "shakespeare", "fed_emnist", "cifar10"} <= set(names) and names[-1] == "file"
    assert "[needs data.path]" in out.stdout.splitlines()[-1]
    overrides = ["data.name=digits", "data.clients=20", "cohort.min=5", "cohort.max=5",
                 "data.partition.name=shards", "data.partition.shards_per_client=1"]
    out = cli("data", "describe", *overrides, "--out", "desc", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "clients        20" in out.stdout
    per_client = next(line for line in out.stdout.splitlines() if line.startswith("classes/client"))
    assert per_client.endswith("min 1  max 2")  # one shard of 72 spans at most two labels
    assert (tmp_path / "desc" / "plots" / "label_distribution.png").is_file()
    out = cli("data", "save", "d.pt", *overrides, cwd=tmp_path)
    assert out.returncode == 0 and "sha256" in out.stdout
    out = cli("data", "describe", "data.name=file", "data.path=d.pt", "cohort.min=5", "cohort.max=5",
              "--out", "again", cwd=tmp_path)
    assert out.returncode == 0 and per_client in out.stdout  # the saved partition is the same one
    out = cli("data", "describe", "data.name=idx", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "data: root is required" in out.stderr


@pytest.mark.parametrize("model", [["model.name=cnn", "model.channels=[4,8]", "model.dense=16"],
                                   ["model.name=mlp", "model.hidden=[16]"]])
def test_engines_agree_on_a_packed_dataset(model):
    base = ["data.name=digits", "data.clients=20", "data.batch_size=16", "data.partition.name=dirichlet",
            "data.partition.alpha=0.3", "cohort.min=6", "cohort.max=6", "rounds=2", "client.lr=0.3", *FEDAVG, *model]
    seq = Experiment(load_config(None, [*base, "engine.name=sequential"])).run(save=False)
    vec = Experiment(load_config(None, [*base, "engine.name=vectorized", "engine.chunk_size=4"])).run(save=False)
    for a, b in zip(seq, vec):
        for key in ("train_loss", "test_loss", "test_accuracy", "client_accuracy_mean", "client_accuracy_min"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
