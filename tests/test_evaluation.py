"""Per-client and personalized evaluation on clients' own test splits."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedhive.config import EvalConfig, ModelConfig
from fedhive.data import from_arrays
from fedhive.data.batches import Batches
from fedhive.data.federated import Packed
from fedhive.errors import UserError
from fedhive.evaluation import (ClientEvaluator, client_accuracies, cycle_steps, personal_accuracies,
                                personalized_accuracies, summarize)
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.registry import build_model


def identity_logits():
    """Logistic regression on 2 features with W = I, b = 0: the logits are x itself."""
    m = build_model(ModelConfig(name="logistic"), (2,), seed=0, num_classes=2)
    return m, torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def test_client_accuracies_and_summary_by_hand():
    m, params = identity_logits()
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0, 1]])
    y = torch.tensor([0, 1, 1, 1, 1])  # client 0: 2/2 right; client 1: 1/3 right; client 2: none
    acc = client_accuracies(m, params, Packed(x, y, torch.tensor([0, 2, 5, 5])))
    assert acc[:2].tolist() == pytest.approx([1.0, 1 / 3]) and math.isnan(acc[2])
    s = summarize(acc, "client_accuracy")
    assert s == pytest.approx({"client_accuracy_mean": 2 / 3, "client_accuracy_p10": 1 / 3 + 0.1 * 2 / 3,
                               "client_accuracy_min": 1 / 3})


def test_cycle_steps_wraps_around_each_clients_real_batches():
    mask = torch.tensor([[[1.0], [1.0], [0.0]], [[1.0], [1.0], [1.0]]])
    x = torch.arange(6.0).view(2, 3, 1)
    out = cycle_steps(Batches(x, torch.zeros(2, 3, 1), mask), 5)
    assert out.x[..., 0].tolist() == [[0, 1, 0, 1, 0], [3, 4, 5, 3, 4]]
    assert out.mask.sum().item() == 10


def label_skewed():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 100)
    x = rng.normal(size=(400, 4)).astype(np.float32) * 0.3 + np.eye(4, dtype=np.float32)[y]
    return from_arrays(x, y, clients=8, partition="shards", shards_per_client=1, batch_size=10, seed=0)


def test_personalized_equals_plain_without_steps_and_helps_on_label_skew():
    ds = label_skewed()
    m = build_model(ModelConfig(name="logistic"), (4,), seed=0, num_classes=4)
    params = m.initial_params()
    plain = client_accuracies(m, params, ds.client_test)
    tiny = personalized_accuracies(m, params, ds, 0, steps=2, lr=1e-9)
    torch.testing.assert_close(tiny, plain)
    tuned = personalized_accuracies(m, params, ds, 0, steps=5, lr=1.0)
    assert tuned.mean() > plain.mean() + 0.3  # each client holds one label: fine-tuning learns it


def test_personalized_evaluation_fine_tunes_a_batch_norm_model_in_train_mode():
    ds = label_skewed()
    torch.manual_seed(0)
    m = FunctionalModel(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)),
                        LOSSES["cross_entropy"])
    params = m.initial_params()
    plain = client_accuracies(m, params, ds.client_test)
    tuned = personalized_accuracies(m, params, ds, 0, steps=5, lr=1.0)  # running statistics are not stepped
    assert tuned.shape == plain.shape == (8,)
    assert tuned.mean() > plain.mean() + 0.3


def test_evaluator_columns_and_reference_has_none():
    ds = label_skewed()
    m = build_model(ModelConfig(name="logistic"), (4,), seed=0, num_classes=4)
    row = ClientEvaluator(EvalConfig(finetune_steps=2), m, ds)(m.initial_params(), 0)
    assert set(row) == {f"{p}_{s}" for p in ("client_accuracy", "personalized_accuracy") for s in ("mean", "p10", "min")}
    assert ClientEvaluator(EvalConfig(per_client=False), m, ds)(m.initial_params(), 0) == {}

    class NoSplit:
        def client_test_split(self):
            return None

    assert ClientEvaluator(EvalConfig(), m, NoSplit())(m.initial_params(), 0) == {}
    # Personalized evaluation asked for where clients hold no test split: an error, not silence.
    with pytest.raises(UserError, match="evaluation.finetune_steps: personalized evaluation needs clients"):
        ClientEvaluator(EvalConfig(finetune_steps=3), m, NoSplit())



def test_personal_accuracies_score_each_clients_own_model_by_hand():
    m, params = identity_logits()
    flipped = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # logits swapped: predicts the other label
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]])
    y = torch.tensor([0, 1, 1, 1, 1, 1])  # client 0: identity 2/2; client 1: flipped 2/3; client 2: no state
    split = Packed(x, y, torch.tensor([0, 2, 5, 6]))
    states = {0: {"w": params}, 1: {"w": flipped}}
    acc = personal_accuracies(m, lambda p, server, s: s["w"], params, None, states, split)
    assert acc[:2].tolist() == pytest.approx([1.0, 2 / 3]) and math.isnan(acc[2])
