"""FedPer (Arivazhagan et al. 2019) and FedRep (Collins et al. 2021, Algorithm 1): a body
shared through FedAvg and a head kept by each client (client state). The head is the
model's last `algorithm.head_params` parameter tensors in `named_parameters` order (2:
the last layer's weight and bias). FedPer trains body and head together; FedRep first
trains the head for `head_epochs` passes with the body frozen, then the body with the
head frozen (eq. 4 and 5). Personal model of client k: the global body with its head.

Clients never read the server's head; the server sets it to the cohort's weighted mean
head so that the global-model columns (test_accuracy) still describe a usable model."""

from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from fedhive.algorithms.base import Hyperparameters, Setup
from fedhive.algorithms.fedavg import FEDAVG
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs, local_trainer, lr_only
from fedhive.data.batches import Batches
from fedhive.errors import UserError


class FedPer(Hyperparameters):
    head_params: int = Field(2, ge=1, description="the head: this many last parameter tensors (2: the last layer)")


class FedRep(FedPer):
    head_epochs: int = Field(5, ge=1, description="passes over the client's batches training the head (tau_h)")


def head_size(setup: Setup[FedPer]) -> int:
    """Entries of the flat parameter vector in the head (its trailing segment)."""
    sizes = setup.model.sizes
    if setup.model.num_stats:  # running statistics follow the head in the flat vector
        raise UserError(f"algorithm.name: {setup.config.algorithm.name} does not support batch-norm models yet "
                        "(fedbn keeps batch norm on the clients)")
    if setup.hp.head_params >= len(sizes):
        raise UserError(f"algorithm.head_params: {setup.hp.head_params} leaves no body; the model has "
                        f"{len(sizes)} parameter tensors")
    return sum(sizes[-setup.hp.head_params:])


def with_head(params: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """The global body followed by a client's own head."""
    return torch.cat([params[: params.shape[0] - head.shape[0]], head])


def personal(setup: Setup[FedPer]):
    return lambda params, server_state, state: with_head(params, state["head"])


def client_update(setup: Setup[FedPer]) -> ClientUpdate:
    h, train, c, hp = head_size(setup), setup.trainer(), setup.config.client, setup.hp
    train_head = local_trainer(setup.model, c.lr, hp.head_epochs, None, c.momentum, c.weight_decay) \
        if isinstance(hp, FedRep) else None

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        start = with_head(params, state["head"])
        is_head = torch.arange(params.shape[0], device=params.device) >= params.shape[0] - h
        if train_head is not None:  # FedRep: the head with the body frozen, then the body alone
            # the head runs all its own head_epochs; a straggler's cut shortens the body phase
            start = train_head(start, data, inputs=lr_only(inputs), trainable=is_head.to(params.dtype)).local
        run = train(start, data, inputs=inputs, trainable=None if train_head is None else (~is_head).to(params.dtype))
        return ClientResult(params - run.local, data.sizes, {"head": run.local[-h:]}, {}, {"loss": run.loss})

    return update


def _family(name: str, hp: type[FedPer]):
    return replace(
        FEDAVG, name=name, hyperparameters=hp, client_update=client_update,
        steps_only=hp is FedPer,  # FedRep's head runs whole passes over the client's batches
        client_state=lambda setup, params: {"head": params[-head_size(setup):].clone()}, personal=personal,
    )


ALGORITHMS = (_family("fedper", FedPer), _family("fedrep", FedRep))
