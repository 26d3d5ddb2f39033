"""q-FedAvg (Algorithm 2 of Li et al. 2020) by hand on two clients over two rounds, and q = 0
as the plain mean of the clients' local models."""

from __future__ import annotations

import pytest
import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.errors import UserError
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext
from tests.algorithms.by_hand import cycled, local_sgd

LR, STEPS = 0.5, 2


def round_by_hand(model, w, datas, q):
    deltas, hs = [], []
    for data in datas:
        n = data.mask.sum(-1)
        f = float((model.masked_loss(w, data.x, data.y, data.mask) * n).sum() / n.sum())
        y = local_sgd(model, w, data, cycled(data, STEPS), LR)
        dw = (w - y) / LR  # L (w - w_k), L = 1 / lr
        deltas.append(f**q * dw)
        hs.append(q * f ** (q - 1) * float(dw @ dw) + f**q / LR)
    return w - sum(deltas) / sum(hs), deltas, hs


@pytest.mark.parametrize("q", [0.0, 1.0, 3.0])
def test_two_rounds_match_algorithm_2(q):
    config = load_config(None, ["algorithm=qffl", f"algorithm.q={q}", f"client.lr={LR}", f"client.steps={STEPS}",
                                "data.clients=10", "data.batch_size=50", "cohort.min=2", "cohort.max=2"])
    model, task = build_model(ModelConfig(), 2, 0), ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(config, model)
    w = model.initial_params()
    state = algorithm.server.init(w)
    for r in range(2):
        datas = [task.cohort_batches(r, [c]).client(0) for c in (2, 6)]
        expected, deltas, hs = round_by_hand(model, w, datas, q)
        res = [algorithm.client_update(w, d, {}, {}, torch.tensor(0)) for d in datas]
        for got, delta, h in zip(res, deltas, hs):
            torch.testing.assert_close(got.update, delta, rtol=1e-5, atol=1e-6)
            assert float(got.outputs["h"]) == pytest.approx(h, rel=1e-5)
        ctx = RoundContext(r, w, torch.stack([x.weight for x in res]),
                           outputs={"h": torch.stack([x.outputs["h"] for x in res])})
        step, state = algorithm.server.update(torch.stack([x.update for x in res]), state, ctx)
        torch.testing.assert_close(w + step, expected, rtol=1e-5, atol=1e-6)
        if q == 0:  # the unweighted mean of the clients' local models
            torch.testing.assert_close(w + step, w - sum(LR * d for d in deltas) / 2, rtol=1e-5, atol=1e-6)
        w = w + step


def test_async_mode_is_refused_in_one_line():
    with pytest.raises(UserError, match="algorithm.name: qffl runs in mode sync only"):
        load_config(None, ["algorithm=qffl", "mode=async"])
