"""APFL against Algorithm 1 of Deng et al. 2020 written out with plain autograd (two
rounds, one client), and alpha adapting toward the local model on a label-skewed split."""

from __future__ import annotations

import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from tests.algorithms.by_hand import batch_gradient, cycled
from tests.test_evaluation import label_skewed

LR, ALPHA_LR, STEPS = 0.5, 0.3, 3
CONFIG = ["algorithm=apfl", "algorithm.alpha=0.25", f"algorithm.alpha_lr={ALPHA_LR}", f"client.lr={LR}",
          f"client.steps={STEPS}", "data.clients=10", "data.batch_size=50", "cohort.min=2", "cohort.max=2"]


def test_two_rounds_match_algorithm_1():
    model, task = build_model(ModelConfig(), 2, 0), ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(load_config(None, CONFIG), model)
    w0 = model.initial_params()
    state = algorithm.client_init(w0)
    assert float(state["alpha"]) == 0.25
    v, alpha = state["v"], 0.25
    for r in range(2):
        data = task.cohort_batches(r, [5]).client(0)
        w = w0.clone()
        for b in cycled(data, STEPS):
            g_bar = batch_gradient(model, alpha * v + (1 - alpha) * w, data, b)
            new_alpha = min(max(alpha - ALPHA_LR * float((v - w) @ g_bar), 0.0), 1.0)
            v = v - LR * alpha * g_bar
            w, alpha = w - LR * batch_gradient(model, w, data, b), new_alpha
        res = algorithm.client_update(w0, data, state, {}, torch.tensor(5))
        torch.testing.assert_close(res.update, w0 - w, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(res.state["v"], v, rtol=1e-5, atol=1e-7)
        assert abs(float(res.state["alpha"]) - alpha) < 1e-6
        torch.testing.assert_close(algorithm.personal(w0, None, res.state), alpha * v + (1 - alpha) * w0, rtol=1e-5, atol=1e-6)
        state = res.state
    assert alpha != 0.25


def test_alpha_moves_toward_the_local_model_on_label_skew():
    config = load_config(None, ["algorithm=apfl", "model.name=mlp", "client.lr=0.5", "data.clients=8",
                                "cohort.min=8", "cohort.max=8", "rounds=2"])
    exp = Experiment(config, dataset=label_skewed())
    row = exp.run(quiet=True, save=False)[-1]
    assert all(float(s["alpha"]) > 0.5 for s in exp.client_states.states.values())
    assert row["personal_accuracy_mean"] >= 0.95 and row["personal_clients"] == 8
