"""Named recipes: an algorithm is a client update plus a server chain.

The config's `server` (a mapping or a list of transforms) becomes a chain of transform
factories; the client update may bring a server half of its own (SCAFFOLD's control
variate, FedNova's rescaling) and per-round inputs (SCAFFOLD's broadcast c); an `attack`
wraps the client update. Named presets (fedavg, fedprox, ...) are config recipes in
`fedhive.presets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import torch

from fedhive.attacks import RoundInputs, attack_inputs, attacked_update
from fedhive.client.state import ClientState, no_state
from fedhive.client.update import ClientUpdate, build_client_update, scaffold_init
from fedhive.compression import apply_compression
from fedhive.config import Config, ServerConfig
from fedhive.models.functional import FunctionalModel
from fedhive.privacy.configure import apply_privacy
from fedhive.server import aggregate, companions, optim, robust
from fedhive.server.chain import Transform, chain


def no_inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
    """Per-round client inputs of an update that needs none."""
    return {}


class Algorithm(NamedTuple):
    """A client update, the server chain, the initial per-client state (if any), and the
    per-round client inputs `(round, ids, params, server_state) -> {name: [K, ...]}` that
    engines pass to each client alongside its state."""

    client_update: ClientUpdate
    server: Transform
    client_init: Callable[[torch.Tensor], ClientState] = no_state
    round_inputs: RoundInputs = no_inputs


TRANSFORMS: dict[str, Callable[..., Transform]] = {
    "sum": aggregate.sum_updates,
    "mean": aggregate.mean,
    "weighted_mean": aggregate.weighted_mean,
    "median": robust.median,
    "trimmed_mean": robust.trimmed_mean,
    "krum": robust.krum,
    "multi_krum": robust.multi_krum,
    "norm_bound": robust.norm_bound,
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "adam": optim.adam,
    "yogi": optim.yogi,
    "adagrad": optim.adagrad,
}


def server_chain(config: Config) -> Transform:
    """The configured server transforms, in order, as one chain named by transform."""
    specs = config.server.transforms() if isinstance(config.server, ServerConfig) else config.server
    members = []
    for i, spec in enumerate(specs):
        name = spec.name if all(s.name != spec.name for s in specs[:i]) else f"{spec.name}_{i}"
        members.append((name, TRANSFORMS[spec.name](**spec.model_dump(exclude={"name"}))))
    return chain(*members)


def _scaffold(base: Algorithm, config: Config) -> Algorithm:
    """SCAFFOLD's server half: the control variate c after the chain, broadcast each round."""

    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        return {"server_c": server_state["scaffold"].c.expand(len(ids), -1)}

    server = chain(("server", base.server), ("scaffold", companions.scaffold_control(config.data.clients)))
    return base._replace(server=server, client_init=scaffold_init, round_inputs=inputs)


def _fednova(base: Algorithm, config: Config) -> Algorithm:
    """FedNova's server half: rescale by tau_eff before the aggregate."""
    return base._replace(server=chain(("fednova", companions.fednova_scale()), ("server", base.server)))


_SERVER_HALVES = {"scaffold": _scaffold, "fednova": _fednova}


def _with_attack(base: Algorithm, config: Config, num_classes: int) -> Algorithm:
    own, attack = base.round_inputs, attack_inputs(config.attack, config.seed)

    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        return {**own(round, ids, params, server_state), **attack(round, ids, params, server_state)}

    return base._replace(client_update=attacked_update(base.client_update, config.attack, num_classes),
                         round_inputs=inputs)


def build_algorithm(config: Config, model: FunctionalModel, num_classes: int = 2) -> Algorithm:
    """The configured client update and server chain, with their halves, any attack, and
    the configured privacy mechanism and compression around them."""
    algorithm = Algorithm(build_client_update(config.client, model), server_chain(config))
    if config.client.name in _SERVER_HALVES:
        algorithm = _SERVER_HALVES[config.client.name](algorithm, config)
    if config.attack is not None:
        algorithm = _with_attack(algorithm, config, num_classes)
    return apply_compression(config, apply_privacy(config, algorithm))
