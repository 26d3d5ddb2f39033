"""Named recipes: an algorithm is a client update plus a server chain."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from fedhive.client.state import ClientState, no_state
from fedhive.client.update import ClientUpdate, build_client_update
from fedhive.compression import apply_compression
from fedhive.config import Config
from fedhive.models.functional import FunctionalModel
from fedhive.privacy.configure import apply_privacy
from fedhive.server import aggregate, optim
from fedhive.server.chain import Transform, chain


class Algorithm(NamedTuple):
    """A client update, the server chain, and the initial per-client state (if any)."""

    client_update: ClientUpdate
    server: Transform
    client_init: Callable[[torch.Tensor], ClientState] = no_state


_AGGREGATES = {"sum": aggregate.sum_updates, "mean": aggregate.mean, "weighted_mean": aggregate.weighted_mean}


def server_chain(config: Config) -> Transform:
    """The configured aggregate followed by the configured server optimizer."""
    s = config.server
    opt = optim.adam(s.lr, s.b1, s.b2, s.eps) if s.optimizer == "adam" else optim.sgd(s.lr)
    return chain((s.aggregate, _AGGREGATES[s.aggregate]()), (s.optimizer, opt))


def build_algorithm(config: Config, model: FunctionalModel) -> Algorithm:
    """FedSGD (the reference: gradient update, sum, Adam) or any configured composition,
    with the configured privacy mechanism and compression around it."""
    algorithm = Algorithm(build_client_update(config.client, model), server_chain(config))
    return apply_compression(config, apply_privacy(config, algorithm))
