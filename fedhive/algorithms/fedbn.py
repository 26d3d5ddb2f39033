"""FedBN (Li et al. 2021): FedAvg, except that every batch-norm layer's affine parameters
and running statistics stay on the client (client state) and are never averaged; each
client's personal model is the global model with its own batch-norm coordinates. On a
model without batch norm it is FedAvg."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.nn.modules.batchnorm import _NormBase

from fedhive.algorithms.base import Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs
from fedhive.data.batches import Batches
from fedhive.models.functional import FunctionalModel


def norm_coordinates(model: FunctionalModel) -> torch.Tensor:
    """Indices into the flat vector of every batch-norm layer's weight, bias and running
    statistics (none for a model without batch norm: FedBN is then FedAvg)."""
    bounds = [0, *torch.tensor(model.sizes).cumsum(0).tolist()]
    owners = [model.module.get_submodule(n.rpartition(".")[0]) for n in model.names]
    spans = [torch.arange(bounds[i], bounds[i + 1]) for i, m in enumerate(owners) if isinstance(m, _NormBase)]
    return torch.cat(spans) if spans else torch.zeros(0, dtype=torch.long)


def with_local_norms(params: torch.Tensor, idx: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """The global `params` with a client's own batch-norm coordinates put back."""
    return params.index_copy(0, idx.to(params.device), norms)


def client_update(setup: Setup) -> ClientUpdate:
    """Local SGD from the global model with the client's own batch norm; the update is 0 on
    the batch-norm coordinates, so the server's mean never moves them."""
    idx, train = norm_coordinates(setup.model), setup.trainer()
    shared = torch.ones(setup.model.num_params).index_fill_(0, idx, 0.0)

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        start = with_local_norms(params, idx, state["norms"])
        run = train(start, data, inputs=inputs)
        delta = (params - run.local) * shared.to(params)
        return ClientResult(delta, data.sizes, {"norms": run.local[idx.to(params.device)]}, {},
                            {"loss": run.loss})

    return update


def _personal(setup: Setup):
    idx = norm_coordinates(setup.model)
    return lambda params, server_state, state: with_local_norms(params, idx, state["norms"])


ALGORITHM = replace(
    FEDAVG, name="fedbn", client_update=client_update, personal=_personal,
    client_state=lambda setup, params: {"norms": params[norm_coordinates(setup.model).to(params.device)].clone()},
)
