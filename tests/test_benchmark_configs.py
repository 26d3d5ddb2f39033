"""The benchmark configs run a few rounds on test-made files in their published layouts."""

import math

import pytest

from fedhive.config import load_config
from fedhive.experiment import Experiment
from tests.conftest import REPO
from tests.data import formats

SMALL = ["rounds=2", "eval_every=1", "cohort.min=2", "cohort.max=2", "data.batch_size=4"]
CASES = {
    "femnist_cnn": (lambda root: formats.write_leaf(root, "femnist", formats.femnist_users, [6, 3, 5]), []),
    "shakespeare_lstm": (lambda root: formats.write_leaf(root, "shakespeare", formats.shakespeare_users, [5, 4, 7]),
                         ["model.lstm=[16,16]"]),
    "cifar10_dirichlet": (lambda root: formats.write_cifar10(root, per_file=8),
                          ["data.clients=4", "data.partition.min_size=1", "model.channels=[8,16]"]),
    "stackoverflow_nwp": (lambda root: formats.write_tff(root, "stackoverflow", [5, 4, 6]),
                          ["data.vocab_size=6", "model.embedding=4", "model.lstm=[8]", "model.dense=4"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_config_runs_two_rounds_on_test_made_files(tmp_path, name):
    if name == "stackoverflow_nwp":
        pytest.importorskip("h5py")
    write, overrides = CASES[name]
    write(tmp_path)
    config = load_config(REPO / "configs" / f"{name}.yaml", [f"data.root={tmp_path}", *SMALL, *overrides])
    history = Experiment(config).run(save=False)
    assert [h["round"] for h in history] == [1, 2] and [h["clients"] for h in history] == [2, 2]
    assert all(math.isfinite(h["train_loss"]) and math.isfinite(h["test_loss"]) for h in history)
    assert 0 <= history[-1]["test_accuracy"] <= 1
