"""FedDyn against Algorithm 1 of Acar et al. 2021 written out with plain autograd, two
rounds on two clients, and a run of the registered algorithm through the experiment."""

from __future__ import annotations

import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext

ALPHA, LR, STEPS, CLIENTS = 0.1, 0.5, 3, 10
CONFIG = ["algorithm=feddyn", f"algorithm.alpha={ALPHA}", f"client.lr={LR}", f"client.steps={STEPS}",
          f"data.clients={CLIENTS}", "data.batch_size=50", "cohort.min=2", "cohort.max=2", "rounds=6"]


def by_hand(model, x, data, g):
    """`STEPS` steps of y <- y - lr (grad L_k(y) - g + alpha (y - x)), then g - alpha (y - x)."""
    y = x.clone()
    for s in range(STEPS):
        b = s % data.x.shape[0]
        leaf = y.detach().requires_grad_(True)
        loss = model.masked_loss(leaf, data.x[b : b + 1], data.y[b : b + 1], data.mask[b : b + 1]).sum()
        (grad,) = torch.autograd.grad(loss, leaf)
        y = y - LR * (grad - g + ALPHA * (y - x))
    return y, g - ALPHA * (y - x)


def test_two_rounds_match_algorithm_1():
    model, task = build_model(ModelConfig(), 2, 0), ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(load_config(None, CONFIG), model)
    x = model.initial_params()
    server_state, h = algorithm.server.init(x), torch.zeros_like(x)
    g = {c: algorithm.client_init(x)["g"] for c in (3, 7)}
    for r in range(2):
        results, expected_y = [], []
        for c in (3, 7):
            data = task.cohort_batches(r, [c]).client(0)
            y, g_next = by_hand(model, x, data, g[c])
            res = algorithm.client_update(x, data, {"g": g[c]}, {}, torch.tensor(c))
            torch.testing.assert_close(res.update, x - y, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(res.state["g"], g_next, rtol=1e-5, atol=1e-7)
            results.append(res)
            expected_y.append(y)
            g[c] = res.state["g"]
        updates = torch.stack([res.update for res in results])
        ctx = RoundContext(r, x, torch.stack([res.weight for res in results]))
        step, server_state = algorithm.server.update(updates, server_state, ctx)
        h = h - ALPHA / CLIENTS * sum(y - x for y in expected_y)  # h^t, then x^t = mean(y) - h^t / alpha
        torch.testing.assert_close(x + step, sum(expected_y) / 2 - h / ALPHA, rtol=1e-5, atol=1e-6)
        x = x + step
    assert float(h.abs().sum()) > 0
    torch.testing.assert_close(server_state["h"], h, rtol=1e-5, atol=1e-8)


def test_the_registered_algorithm_learns_and_keeps_one_g_per_client():
    exp = Experiment(load_config(None, CONFIG))
    start = exp.evaluate(0)["test_loss"]
    history = exp.run(quiet=True, save=False)
    assert history[-1]["test_loss"] < 0.8 * start
    assert set(exp.client_states.states) <= set(range(CLIENTS)) and len(exp.client_states.states) >= 2
    assert all(set(s) == {"g"} for s in exp.client_states.states.values())
