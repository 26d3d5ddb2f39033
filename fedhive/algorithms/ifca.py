"""IFCA (Ghosh et al. 2020, Algorithm 2, model averaging): the server keeps k cluster
models; each sampled client evaluates every one on its training data, picks
`j = argmin_j F_k(theta_j)` (eq. 3), trains it locally and sends the delta; each cluster
model takes the configured server step on the deltas of the clients that picked it.
Cluster j's size this round is the `cluster_j` metric column; a client's personal model
is the cluster model it last picked. The experiment's global model is the cluster the
most clients picked this round (ties: the lowest index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs
from fedhive.data.batches import Batches
from fedhive.errors import UserError
from fedhive.server.chain import RoundContext, Transform


class Ifca(Hyperparameters):
    clusters: int = Field(2, ge=1, description="k, the number of cluster models")
    init_std: float = Field(0.1, ge=0, description="std of the keyed noise that makes cluster j > 0 differ at start")


def client_update(setup: Setup[Ifca]) -> ClientUpdate:
    k, model, train = setup.hp.clusters, setup.model, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        models, n = inputs["clusters"], data.mask.sum(-1)
        losses = torch.stack([(model.masked_loss(models[j], data.x, data.y, data.mask) * n).sum() for j in range(k)])
        pick = (torch.arange(k, device=params.device) == losses.argmin()).to(params.dtype)  # one-hot, vmap-safe
        start = pick @ models
        run = train(start, data, inputs=inputs)
        return ClientResult(start - run.local, data.sizes, {"cluster": pick}, {"cluster": pick},
                            {"loss": run.loss})

    return update


def initial_models(setup: Setup[Ifca], params: torch.Tensor) -> torch.Tensor:
    """`[k, P]`: the initial model, then copies moved by keyed Gaussian noise."""
    noise = [torch.zeros_like(params)] + [
        torch.randn(params.shape, generator=torch.Generator().manual_seed(setup.config.seed * 7919 + j),
                    dtype=params.dtype).to(params.device) * setup.hp.init_std for j in range(1, setup.hp.clusters)]
    return params + torch.stack(noise)


def server(setup: Setup[Ifca], configured: Transform) -> Transform:
    """Per cluster, the configured chain on its clients' deltas (its own chain state); a
    cluster nobody picked keeps its model. Central DP and secure aggregation sum the
    whole cohort first, which leaves nothing per cluster: refused."""
    k, privacy = setup.hp.clusters, setup.config.privacy
    if privacy.mechanism == "central" or privacy.secagg.enabled:
        raise UserError("algorithm.name: ifca averages each cluster's clients separately; privacy.mechanism=central "
                        "and privacy.secagg sum the whole cohort (use privacy.mechanism=local)")

    def init(params: torch.Tensor) -> dict:
        models = initial_models(setup, params)
        return {"models": models, "server": tuple(configured.init(m) for m in models)}

    def update(updates: torch.Tensor, state: dict, ctx: RoundContext):
        picks, models, inner = ctx.outputs["cluster"], state["models"].clone(), list(state["server"])
        sizes = picks.sum(dim=0)
        for j in range(k):
            ctx.metrics[f"cluster_{j}"] = int(sizes[j])
            chosen = picks[:, j] > 0
            if chosen.any():
                sub = RoundContext(ctx.round, models[j], ctx.weights[chosen], ctx.seed, ctx.metrics,
                                   {n: v[chosen] for n, v in ctx.outputs.items()})
                step, inner[j] = configured.update(updates[chosen], inner[j], sub)
                models[j] = models[j] + step
        return models[int(sizes.argmax())] - ctx.params, {"models": models, "server": tuple(inner)}

    return Transform(init, update, configured.stage)


def round_inputs(setup: Setup[Ifca]):
    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        return {"clusters": server_state["models"].expand(len(ids), -1, -1)}

    return inputs


ALGORITHM = replace(
    FEDAVG, name="ifca", client_update=client_update, hyperparameters=Ifca, server=server,
    round_inputs=round_inputs, steps_only=False,  # the cluster is chosen on all the client's batches
    client_state=lambda setup, params: {"cluster": params.new_zeros(setup.hp.clusters)},
    personal=lambda setup: lambda params, server_state, state: state["cluster"] @ server_state["models"],
    sync_only="clients choose among the cluster models broadcast with each round",
)
