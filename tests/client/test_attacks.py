"""Attacks: who is malicious (exact count, keyed), and what each attack sends."""

from __future__ import annotations

import pytest
import torch

from fedhive import rng
from fedhive.client.attacks import MALICIOUS, attack_inputs, attacked_update, malicious_mask
from fedhive.client.update import local_sgd_update
from fedhive.config import AttackConfig, DataConfig, ModelConfig
from fedhive.data.synthetic import ReferenceTask
from fedhive.models.registry import build_model


def test_exactly_the_fraction_of_the_cohort_is_malicious_and_keyed():
    masks = [malicious_mask(0, r, 25, 0.2) for r in range(5)]
    assert [int(m.sum()) for m in masks] == [5] * 5
    assert torch.equal(malicious_mask(0, 3, 25, 0.2), masks[3])
    assert len({tuple(m.tolist()) for m in masks}) > 1  # a different choice each round
    assert int(malicious_mask(0, 0, 10, 0.25).sum()) == 3  # round half up: 2.5 -> 3
    assert int(malicious_mask(0, 0, 10, 0.0).sum()) == 0


@pytest.fixture
def client():
    task, model = ReferenceTask(DataConfig(batch_size=50), 0), build_model(ModelConfig(), 2, 0)
    return model, model.initial_params(), task.cohort_batches(0, [7]).client(0)


def _run(model, p, data, name, malicious, **kw):
    config = AttackConfig(name=name, **kw)
    update = attacked_update(local_sgd_update(model, lr=0.5), config, num_classes=2)
    inputs = {MALICIOUS: torch.tensor(float(malicious))}
    if name == "gaussian":  # the noise input for client 7 at round 0, as the loop builds it
        inputs.update({k: v[0] for k, v in attack_inputs(config, 0)(0, [7], p, None).items() if k != MALICIOUS})
    return update(p, data, {}, inputs, torch.tensor(7)).update


@pytest.mark.parametrize("name", ["sign_flip", "scale", "gaussian", "label_flip", "nan"])
def test_honest_clients_are_untouched(client, name):
    model, p, data = client
    honest = local_sgd_update(model, lr=0.5)(p, data, {}, {}, 0).update
    assert torch.equal(_run(model, p, data, name, False, fraction=1.0), honest)


def test_each_attack_sends_what_it_says(client):
    model, p, data = client
    honest = local_sgd_update(model, lr=0.5)(p, data, {}, {}, 0).update
    torch.testing.assert_close(_run(model, p, data, "sign_flip", True), -4.0 * honest)
    torch.testing.assert_close(_run(model, p, data, "scale", True, factor=10.0), 10.0 * honest)
    assert torch.isnan(_run(model, p, data, "nan", True)).all()
    noise = 0.5 * torch.randn(p.numel(), generator=rng.generator(0, 0, 7, "attack-noise"))
    torch.testing.assert_close(_run(model, p, data, "gaussian", True, std=0.5, fraction=1.0), noise)
    flipped = data._replace(y=(1 - data.y) * data.mask)
    torch.testing.assert_close(_run(model, p, data, "label_flip", True),
                               local_sgd_update(model, lr=0.5)(p, flipped, {}, {}, 0).update)


@pytest.mark.parametrize("name", ["sign_flip", "scale", "gaussian", "label_flip", "nan"])
def test_attacked_runs_agree_across_engines(name):
    from fedhive.config import load_config
    from fedhive.experiment import Experiment

    base = ["rounds=2", "algorithm=fedavg", "cohort.min=6", "cohort.max=8", "data.batch_size=50",
            "server.aggregate=median", f"attack={{name: {name}, fraction: 0.3}}"]
    runs = [Experiment(load_config(None, [*base, f"engine.name={e}"])).run(quiet=True, save=False)
            for e in ("sequential", "vectorized")]
    for a, b in zip(*runs):
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-5)
        assert a["dropped"] == b["dropped"] == (2 if name == "nan" else 0)
