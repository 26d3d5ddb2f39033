"""q-FedAvg (Algorithm 2 of Li et al. 2020) by hand on two clients over two rounds, q = 0
as the plain mean of the clients' local models, and its purpose: a fairer spread of
per-client losses than FedAvg's on a task where a minority of clients disagrees."""

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


def client_losses(algorithm: list[str], rounds: int = 20) -> torch.Tensor:
    """Each client's mean loss under the final global model, on 8 clients labelled by
    x1 > 0 and 2 by x2 > 0 (50 points each): no linear model fits both, so an average
    weighted by clients leans to the majority."""
    g = np.random.default_rng(0)
    owner = np.repeat(np.arange(10), 50)
    x = g.uniform(-1, 1, size=(500, 2)).astype(np.float32)
    y = np.where(owner < 8, x[:, 0] > 0, x[:, 1] > 0).astype(np.int64)
    data = from_arrays(x, y, clients=10, partition="natural", groups=owner, num_classes=2, batch_size=10)
    config = load_config(None, [*algorithm, "model.name=logistic", "data.clients=10", "cohort.min=10", "cohort.max=10",
                                f"rounds={rounds}", f"eval_every={rounds}", "client.lr=0.5", "client.steps=5",
                                "evaluation.per_client=false"])
    exp = Experiment(config, data)
    exp.run(save=False)
    loss, _ = exp.model.per_sample_eval(exp.params, torch.from_numpy(x), torch.from_numpy(y))
    return torch.zeros(10).index_add_(0, torch.from_numpy(owner), loss.float()) / 50


@pytest.mark.slow
def test_larger_q_shrinks_the_spread_of_client_losses_below_fedavgs():
    fedavg = client_losses(["algorithm=fedavg"])
    q0, q1, q3 = (client_losses(["algorithm=qffl", f"algorithm.q={q}"]) for q in (0, 1, 3))
    # q = 0 is FedAvg here (equal client sizes, server SGD at lr 1); the minority is worst off.
    torch.testing.assert_close(q0, fedavg, rtol=1e-4, atol=1e-5)
    assert fedavg[8:].min() > fedavg[:8].max()
    # The spread shrinks as q grows, and the worst-off client's loss falls (measured:
    # std 0.26, 0.13, 0.08; worst 0.92, 0.69, 0.64).
    assert q1.std() < 0.7 * fedavg.std() and q3.std() < 0.7 * q1.std()
    assert q1.max() < fedavg.max() - 0.1 and q3.max() < q1.max()
