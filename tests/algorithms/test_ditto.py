"""Ditto against Algorithm 1 of Li et al. 2021 written out with plain autograd, two
rounds on two clients, and personal models beating the global one on a label-skewed split."""

from __future__ import annotations

import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext
from tests.algorithms.by_hand import cycled, local_sgd
from tests.test_evaluation import label_skewed

LAM, LR, STEPS = 0.5, 0.5, 3
CONFIG = ["algorithm=ditto", f"algorithm.lam={LAM}", f"client.lr={LR}", f"client.steps={STEPS}",
          "data.clients=10", "data.batch_size=50", "cohort.min=2", "cohort.max=2"]


def test_two_rounds_match_algorithm_1():
    model, task = build_model(ModelConfig(), 2, 0), ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(load_config(None, CONFIG), model)
    w = model.initial_params()
    server_state = algorithm.server.init(w)
    v = {c: algorithm.client_init(w)["v"] for c in (3, 7)}
    torch.testing.assert_close(v[3], w)  # v_k^0 = w^0
    for r in range(2):
        results, expected_w = [], []
        for c in (3, 7):
            data = task.cohort_batches(r, [c]).client(0)
            w_k = local_sgd(model, w, data, cycled(data, STEPS), LR)
            v_k = local_sgd(model, v[c], data, cycled(data, STEPS), LR, pull=lambda y: LAM * (y - w))
            res = algorithm.client_update(w, data, {"v": v[c]}, {}, torch.tensor(c))
            torch.testing.assert_close(res.update, w - w_k, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(res.state["v"], v_k, rtol=1e-5, atol=1e-7)
            assert algorithm.personal(w, None, res.state) is res.state["v"]
            results.append(res)
            expected_w.append((w_k, res.weight))
            v[c] = v_k
        updates = torch.stack([res.update for res in results])
        step, server_state = algorithm.server.update(updates, server_state,
                                                     RoundContext(r, w, torch.stack([res.weight for res in results])))
        total = sum(n for _, n in expected_w)
        torch.testing.assert_close(w + step, sum(n * w_k for w_k, n in expected_w) / total, rtol=1e-5, atol=1e-6)
        w = w + step
    assert not torch.equal(v[3], v[7])


def test_personal_models_beat_the_global_one_on_label_skew():
    """8 clients holding one label each: the personal models learn their client's label."""
    config = load_config(None, ["algorithm=ditto", "algorithm.lam=0.1", "model.name=logistic", "client.lr=0.5",
                                "data.clients=8", "cohort.min=8", "cohort.max=8", "rounds=2"])
    exp = Experiment(config, dataset=label_skewed())
    row = exp.run(quiet=True, save=False)[-1]
    assert row["personal_clients"] == 8
    assert row["personal_accuracy_mean"] >= 0.95
    assert row["personal_accuracy_mean"] > row["client_accuracy_mean"] + 0.1  # global: 0.84 after 2 rounds
    assert set(exp.client_states.states) == set(range(8))
