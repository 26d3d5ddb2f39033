"""FedNova (Wang et al. 2020): each client normalizes its delta by its local step count
`|a_i|_1`; the server rescales the weighted mean by `tau_eff` (eq. 7)."""

from __future__ import annotations

from dataclasses import replace

import torch

from fedhive.algorithms.base import Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs
from fedhive.data.batches import Batches
from fedhive.server.chain import RoundContext, Transform, chain, finite_rows


def client_update(setup: Setup) -> ClientUpdate:
    """`d_i = (x - y_i) / |a_i|_1`, with `|a_i|_1` the local steps tau_i for plain SGD or
    `sum_k (1 - rho^k) / (1 - rho)` with client momentum rho; sends `steps = |a_i|_1`."""
    rho, train = setup.config.client.momentum, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        run = train(params, data, inputs=inputs)
        tau = run.steps
        if rho > 0:  # a Python hyperparameter, not a tensor value
            tau = (tau - rho * (1 - rho**tau) / (1 - rho)) / (1 - rho)
        norm = tau.clamp_min(1.0)
        return ClientResult((params - run.local) / norm, data.sizes, state, {"steps": norm}, {"loss": run.loss})

    return update


def rescale() -> Transform:
    """Multiply every d_i by tau_eff = sum_i p_i |a_i|_1 with p_i = n_i / n over the finite
    rows, so the weighted mean afterwards is tau_eff sum_i p_i d_i. Client stage."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        w = ctx.weights.to(updates.dtype) * finite_rows(updates)
        tau_eff = (w * ctx.outputs["steps"].to(updates.dtype)).sum() / w.sum().clamp_min(1e-12)
        return updates * tau_eff, state

    return Transform(lambda params: (), update, "client")


def server(setup: Setup, configured: Transform) -> Transform:
    return chain(("fednova", rescale()), ("server", configured))


ALGORITHM = replace(FEDAVG, name="fednova", client_update=client_update, server=server)
