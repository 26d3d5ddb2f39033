"""IFCA (Ghosh et al. 2020): one round by hand (each client trains the cluster model with
its lowest loss; each cluster averages its own clients), and a planted clustering, two
groups of clients whose labels are swapped, recovered exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data import from_arrays
from fedhive.data.synthetic import ReferenceTask
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext
from tests.algorithms.by_hand import cycled, local_sgd

LR, STEPS = 0.5, 2


def test_one_round_by_hand():
    config = load_config(None, ["algorithm=ifca", "algorithm.clusters=3", "algorithm.init_std=0.5", f"client.lr={LR}",
                                f"client.steps={STEPS}", "data.clients=10", "data.batch_size=50", "cohort.min=3",
                                "cohort.max=3"])
    model, task = build_model(ModelConfig(), 2, 0), ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(config, model)
    w = model.initial_params()
    state = algorithm.server.init(w)
    models = state["models"]
    torch.testing.assert_close(models[0], w)
    assert not torch.equal(models[1], models[2])
    ids = [1, 4, 8]
    inputs = algorithm.round_inputs(0, ids, w, state)
    results, expected = [], {}
    for i, c in enumerate(ids):
        data = task.cohort_batches(0, [c]).client(0)
        n = data.mask.sum(-1)
        j = int(torch.stack([(model.masked_loss(m, data.x, data.y, data.mask) * n).sum() for m in models]).argmin())
        y = local_sgd(model, models[j], data, cycled(data, STEPS), LR)
        res = algorithm.client_update(w, data, {}, {k: v[i] for k, v in inputs.items()}, torch.tensor(c))
        assert res.state["cluster"].tolist() == [float(j == q) for q in range(3)]
        torch.testing.assert_close(res.update, models[j] - y, rtol=1e-5, atol=1e-6)
        expected.setdefault(j, []).append((y, res.weight))
        results.append(res)
    ctx = RoundContext(0, w, torch.stack([r.weight for r in results]),
                       outputs={"cluster": torch.stack([r.outputs["cluster"] for r in results])})
    step, new = algorithm.server.update(torch.stack([r.update for r in results]), state, ctx)
    for j in range(3):  # the default server: weighted mean of its clients' local models
        assert ctx.metrics[f"cluster_{j}"] == len(expected.get(j, []))
        want = sum(n * y for y, n in expected[j]) / sum(n for _, n in expected[j]) if j in expected else models[j]
        torch.testing.assert_close(new["models"][j], want, rtol=1e-5, atol=1e-6)
    largest = max(range(3), key=lambda j: (len(expected.get(j, [])), -j))
    torch.testing.assert_close(w + step, new["models"][largest])


def planted(clients: int = 8):
    """Clients 0..3 see labels as they are, clients 4..7 with labels 0 and 1 swapped."""
    rng = np.random.default_rng(0)
    per = 60
    y = np.tile(np.repeat([0, 1], per // 2), clients)
    x = (rng.normal(size=(len(y), 2)) * 0.5 + np.array([[2.0, 0.0], [0.0, 2.0]])[y]).astype(np.float32)
    groups = np.repeat(np.arange(clients), per)
    swapped = groups >= clients // 2
    return from_arrays(x, np.where(swapped, 1 - y, y), clients=clients, partition="natural", groups=groups,
                       batch_size=10, seed=0)


def test_a_planted_clustering_is_recovered():
    config = load_config(None, ["algorithm=ifca", "algorithm.clusters=2", "algorithm.init_std=1.0",
                                "model.name=logistic", "client.lr=0.5", "data.clients=8", "cohort.min=8",
                                "cohort.max=8", "rounds=5"])
    exp = Experiment(config, dataset=planted())
    row = exp.run(quiet=True, save=False)[-1]
    picked = [int(exp.client_states.states[c]["cluster"].argmax()) for c in range(8)]
    assert len(set(picked[:4])) == 1 and len(set(picked[4:])) == 1 and picked[0] != picked[4]
    assert sorted([row["cluster_0"], row["cluster_1"]]) == [4, 4]
    assert row["personal_accuracy_mean"] >= 0.9 > row["client_accuracy_mean"]


def test_async_mode_is_refused_in_one_line():
    with pytest.raises(UserError, match="algorithm.name: ifca runs in mode sync only"):
        load_config(None, ["algorithm=ifca", "mode=async"])


def test_cohort_summing_privacy_is_refused_in_one_line():
    config = load_config(None, ["algorithm=ifca", "privacy.mechanism=central", "privacy.accountant=rdp",
                                "privacy.noise_multiplier=0.1"])
    with pytest.raises(UserError, match="algorithm.name: ifca averages each cluster's clients separately"):
        build_algorithm(config, build_model(ModelConfig(), 2, 0))
