"""FedExP (Jhunjhunwala et al. 2023): FedAvg whose server step size extrapolates,
`eta_g = max(1, sum_i |d_i|^2 / (2 M (|d|^2 + eps)))` with d the mean of the M deltas d_i."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG, LOCAL
from fedhive.server.chain import RoundContext, Transform, finite_rows


class FedExP(Hyperparameters):
    eps: float = Field(1e-3, gt=0, description="epsilon, keeps eta_g finite when the deltas cancel")


def server(setup: Setup[FedExP], configured: Transform) -> Transform:
    """The configured step (the mean delta by default) times eta_g over the finite rows;
    eta_g is recorded as `server_lr`. Reads the rows, so it is not a linear aggregate."""
    eps = setup.hp.eps

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        rows = updates[finite_rows(updates)]
        eta = (rows.pow(2).sum() / (2 * len(rows) * (rows.mean(0).pow(2).sum() + eps))).clamp_min(1.0)
        step, state = configured.update(updates, state, ctx)
        ctx.metrics["server_lr"] = float(eta)
        return eta * step, state

    return configured._replace(update=update, linear=None)


ALGORITHM = replace(FEDAVG, name="fedexp", hyperparameters=FedExP, server=server,
                    defaults={"client": LOCAL, "server": {"aggregate": "mean", "optimizer": "sgd", "lr": 1.0}})
