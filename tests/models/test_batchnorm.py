"""Batch-norm models: running statistics are coordinates of the flat vector, updated by
local training in train mode, averaged by the server, read in eval mode; both engines agree."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn
from torch.func import vmap

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from tests.conftest import REPO

DIGITS = ["data.name=digits", "data.clients=10", "data.batch_size=20", "cohort.min=5", "cohort.max=5",
          "algorithm=fedavg", "client.lr=0.05", "rounds=4"]
BN_CNN = ["model.name=cnn", "model.norm=batch", "model.channels=[8,16]", "model.dense=32"]


def bn_mlp() -> FunctionalModel:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    return FunctionalModel(module, LOSSES["cross_entropy"])


def run(overrides: list[str]) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Experiment(load_config(None, overrides)).run(quiet=True, save=False)


def test_running_statistics_are_the_last_coordinates_and_follow_the_batch():
    model = bn_mlp()
    flat = model.initial_params()
    assert (model.num_params, model.num_stats) == (15 + 6 + 8 + 6, 6)  # linear, BN affine, linear, mean+var
    torch.testing.assert_close(model.stats_of(flat), torch.tensor([0.0, 0, 0, 1, 1, 1]))
    x, y = torch.randn(1, 16, 4), torch.randint(0, 2, (1, 16))
    _, stats = model.train_losses(flat, x, y, None)
    h = model.unflatten(flat)
    z = x[0] @ h["0.weight"].T + h["0.bias"]
    torch.testing.assert_close(stats, torch.cat([0.1 * z.mean(0), 0.9 + 0.1 * z.var(0)]))
    # Eval mode normalizes with the stored statistics, not the batch's.
    moved = model.with_stats(flat, stats)
    assert not torch.equal(model.apply(moved, x[0]), model.apply(flat, x[0]))
    torch.testing.assert_close(model.with_stats(flat, stats, 0.0), flat)


def test_vmap_over_clients_gives_each_its_own_statistics():
    model = bn_mlp()
    flat = model.initial_params()
    xs, ys = torch.randn(3, 1, 16, 4), torch.randint(0, 2, (3, 1, 16))
    batched = vmap(lambda x, y: model.train_losses(flat, x, y, None))(xs, ys)
    for k in range(3):
        loss, stats = model.train_losses(flat, xs[k], ys[k], None)
        torch.testing.assert_close(batched[0][k], loss)
        torch.testing.assert_close(batched[1][k], stats)


def test_momentum_free_batch_norm_is_refused():
    with pytest.raises(UserError, match="momentum=None"):
        FunctionalModel(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2, momentum=None)), LOSSES["cross_entropy"])


@pytest.mark.slow
def test_batch_norm_cnn_learns_digits_on_both_engines():
    rows = {e: run([*DIGITS, *BN_CNN, f"engine.name={e}"]) for e in ("sequential", "vectorized")}
    seq, vec = rows["sequential"], rows["vectorized"]
    for a, b in zip(seq, vec):
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], rel=1e-5)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)
    assert max(r["test_accuracy"] for r in seq) > 0.35  # 10 classes: chance is 0.1


RESNET = '''
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return (x + self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))).relu()


class TinyResNet(nn.Module):
    def __init__(self, input_shape, num_classes, width=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(Block(width), Block(width))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
'''


@pytest.mark.slow
def test_user_resnet_with_batch_norm_trains(tmp_path, monkeypatch):
    (tmp_path / "tiny_resnet.py").write_text(textwrap.dedent(RESNET))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FEDHIVE_ALLOW_CODE", "1")
    rows = run([*DIGITS, "model.name=tiny_resnet:TinyResNet", "rounds=10", "client.epochs=3", "client.momentum=0.9",
                "client.lr=0.02", "engine.name=vectorized"])
    assert rows[-1]["train_loss"] < 0.6 * rows[0]["train_loss"]
    assert max(r["test_accuracy"] for r in rows) > 0.5  # chance is 0.1


@pytest.mark.slow
def test_a_resnet_from_the_users_folder_trains_on_fashion_mnist_from_a_config(tmp_path):
    """The folder fedhive runs from is importable, as with `python -m`: no PYTHONPATH entry for it."""
    from fedhive.data.datasets import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    (tmp_path / "tiny_resnet.py").write_text(textwrap.dedent(RESNET))
    (tmp_path / "resnet.yaml").write_text(textwrap.dedent("""
        rounds: 2
        data: {name: fashion_mnist, clients: 100, batch_size: 50}
        model: {name: "tiny_resnet:TinyResNet", kwargs: {width: 4}}
        cohort: {min: 2, max: 2}
        algorithm: fedavg
        client: {lr: 0.05}
        evaluation: {per_client: false}
        """))
    env = {k: v for k, v in os.environ.items() if k != "FEDHIVE_ALLOW_CODE"}
    env["PYTHONPATH"] = str(REPO)  # fedhive itself, as an installed package would be; not the user's folder
    proc = subprocess.run([sys.executable, "-m", "fedhive", "run", "resnet.yaml", "-q", "--allow-code"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-1500:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["train_loss"]) and r["dropped"] == 0 for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
