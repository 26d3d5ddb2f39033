"""q-FFL solved by q-FedAvg (Li et al. 2020, Algorithm 2): with L = 1 / client.lr, client
k runs local SGD from w to w_k and sends `Delta_k = F_k(w)^q L (w - w_k)` and
`h_k = q F_k(w)^(q-1) |L (w - w_k)|^2 + L F_k(w)^q`, F_k(w) its training loss at the
global model; the server steps `w <- w - sum_k Delta_k / sum_k h_k`. Larger q weights
clients with a high loss more (q = 0: the unweighted mean of FedAvg's deltas)."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG, LOCAL
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs, round_lr
from fedhive.data.batches import Batches
from fedhive.server.chain import RoundContext, Transform, finite_rows


class QFfl(Hyperparameters):
    q: float = Field(1.0, ge=0, description="fairness exponent q (0: FedAvg's objective)")


def client_update(setup: Setup[QFfl]) -> ClientUpdate:
    q, lr, model, train = setup.hp.q, setup.config.client.lr, setup.model, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        per_step, n = model.masked_loss(params, data.x, data.y, data.mask), data.mask.sum(-1)
        f = ((per_step * n).sum() / n.sum().clamp_min(1.0)).detach().clamp_min(1e-10)  # F_k(w)
        run = train(params, data, inputs=inputs)
        lipschitz = 1.0 / round_lr(inputs, lr)
        delta_w = lipschitz * (params - run.local)
        h = q * f ** (q - 1) * delta_w.square().sum() + lipschitz * f**q
        return ClientResult(f**q * delta_w, data.sizes, state, {"h": h}, {"loss": run.loss})

    return update


def server(setup: Setup[QFfl], configured: Transform) -> Transform:
    """Each Delta_k divided by the cohort's `sum_k h_k` (over usable updates), then the
    configured chain: the default `sum` then SGD at lr 1 is Algorithm 2's step."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        ok = finite_rows(updates) & torch.isfinite(ctx.outputs["h"])
        return configured.update(updates / ctx.outputs["h"][ok].sum().clamp_min(1e-12), state, ctx)

    return Transform(configured.init, update, configured.stage)


ALGORITHM = replace(
    FEDAVG, name="qffl", client_update=client_update, hyperparameters=QFfl, server=server,
    steps_only=False,  # F_k(w) is the loss over all the client's batches
    defaults={"client": LOCAL, "server": {"aggregate": "sum", "optimizer": "sgd", "lr": 1.0}},
    sync_only="its server step divides by the cohort's sum of h_k, which the async buffer does not carry",
)
