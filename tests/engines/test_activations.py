"""Activation memory per sample, and vectorized chunks bounded by it: same results as one chunk."""

import pytest
import torch
from torch import nn

from fedhive.config import load_config
from fedhive.data.batches import Batches
from fedhive.engines import activations
from fedhive.engines.activations import activation_cap, saved_bytes_per_sample
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.experiment import Experiment
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.sequence import TokenLSTM
from tests.data import formats


def _batches(x: torch.Tensor) -> Batches:
    """A chunk `[3 clients, 5 steps, 10 samples, ...]` of inputs `x` and 3 classes."""
    torch.manual_seed(0)
    return Batches(x, torch.randint(0, 3, (3, 5, 10)), torch.ones(3, 5, 10))


def test_mlp_saves_its_input_hidden_layer_log_probabilities_and_label():
    model = FunctionalModel(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), LOSSES["cross_entropy"])
    per_sample = saved_bytes_per_sample(model, model.initial_params(), _batches(torch.randn(3, 5, 10, 4)))
    # Per sample: x (4 floats, for Linear(4, 8)), the ReLU output (8 floats, for ReLU and
    # Linear(8, 3)), log-softmax (3 floats), the int64 label; the weights are the parameters'.
    assert per_sample == 4 * 4 + 8 * 4 + 3 * 4 + 8


def test_lstm_saves_the_same_bytes_for_every_time_step():
    def saved(steps: int, hidden: int = 16) -> int:
        model = FunctionalModel(TokenLSTM(80, 8, [hidden]), LOSSES["cross_entropy"])
        return saved_bytes_per_sample(model, model.initial_params(), _batches(torch.randint(0, 80, (3, 5, 10, steps))))

    per_step = (saved(8) - saved(4)) // 4
    assert per_step > 0 and saved(16) - saved(8) == 8 * per_step
    # Each step saves eight tensors of the hidden width (the four gate activations, tanh of
    # the cell, the previous cell and output, ...): linear in the width, not in the
    # recurrent weights' size (width squared), which are the parameters'.
    assert (saved(8, 32) - saved(4, 32)) // 4 - per_step == 8 * (32 - 16) * 4


def test_cap_is_the_clients_whose_step_fits_the_budget(monkeypatch):
    monkeypatch.setattr(activations, "ACTIVATION_BUDGET", 1000)
    assert activation_cap(per_sample=30, batch=10) == 3
    assert activation_cap(per_sample=30, batch=40) == 1  # one client always runs
    assert activation_cap(per_sample=1, batch=1) == 1000


@pytest.mark.slow
def test_chunks_capped_by_activations_give_the_one_chunk_result(tmp_path, monkeypatch):
    formats.write_leaf(tmp_path, "shakespeare", formats.shakespeare_users, [6, 7, 5, 6, 8, 6])
    config = load_config(None, [f"data.root={tmp_path}", "data.name=shakespeare", "data.batch_size=2",
                                "model.name=char_lstm", "model.lstm=[12,12]", "algorithm=fedavg",
                                "client.lr=0.5", "client.steps=2", "cohort.min=6", "cohort.max=6",
                                "rounds=2", "eval_every=2", "engine.name=vectorized"])
    exp = Experiment(config)
    data = exp.dataset.cohort_batches(0, [0, 1])
    per_client = saved_bytes_per_sample(exp.model, exp.params, data) * data.mask.shape[-1]
    chunks = []
    record = VectorizedEngine._run_chunk

    def counted(self, update, params, data, *args):
        chunks.append(data.mask.shape[0])
        return record(self, update, params, data, *args)

    monkeypatch.setattr(VectorizedEngine, "_run_chunk", counted)
    finals = []
    for clients in (3, 1000):
        monkeypatch.setattr(activations, "ACTIVATION_BUDGET", clients * per_client)
        chunks.clear()
        exp = Experiment(config)
        exp.run(save=False)
        finals.append(exp.params)
        assert chunks == ([3, 3] * 2 if clients == 3 else [6] * 2)
    assert (finals[0] - exp.model.initial_params()).abs().sum() > 0
    torch.testing.assert_close(finals[0], finals[1], rtol=1e-5, atol=1e-6)


def test_a_model_swapped_after_building_leaves_chunks_uncapped():
    exp = Experiment(load_config(None, ["data.batch_size=10", "data.clients=20", "cohort.min=6", "cohort.max=6",
                                        "rounds=1"]))
    exp.engine.model = FunctionalModel(torch.nn.Linear(3, 1), exp.model.loss)  # parametrizes 4 numbers, not P
    ids = exp.sampler(0).tolist()
    data = exp.dataset.cohort_batches(0, ids)
    positions, capped = exp.engine._capped(list(range(len(ids))), data, exp.params)
    assert positions == list(range(6)) and capped is data and exp.engine._activation_cap is None
