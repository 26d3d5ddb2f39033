"""An experiment's algorithm built from its config: the named algorithm's halves around
the configured server chain, then any attack, privacy mechanism and compression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import torch

from fedhive.algorithms.base import FederatedAlgorithm, Setup
from fedhive.algorithms.registry import find_algorithm
from fedhive.algorithms.server_specs import OptimizerSpec
from fedhive.client.attacks import attack_inputs, attacked_update
from fedhive.compression import apply_compression
from fedhive.config import AttackConfig, Config
from fedhive.config.lr_schedule import build_schedule
from fedhive.models.functional import FunctionalModel
from fedhive.privacy.configure import apply_privacy
from fedhive.server import aggregate, optim, robust
from fedhive.server.chain import Transform, chain

TRANSFORMS: dict[str, Callable[..., Transform]] = {
    "sum": aggregate.sum_updates,
    "mean": aggregate.mean,
    "weighted_mean": aggregate.weighted_mean,
    "median": robust.median,
    "trimmed_mean": robust.trimmed_mean,
    "krum": robust.krum,
    "multi_krum": robust.multi_krum,
    "bulyan": robust.bulyan,
    "norm_bound": robust.norm_bound,
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "adam": optim.adam,
    "yogi": optim.yogi,
    "adagrad": optim.adagrad,
}


def server_chain(config: Config) -> Transform:
    """The configured server transforms, in order, as one chain named by transform."""
    specs = config.server_specs
    members = []
    for i, spec in enumerate(specs):
        name = spec.name if all(s.name != spec.name for s in specs[:i]) else f"{spec.name}_{i}"
        kwargs = {k: getattr(spec, k) for k in type(spec).model_fields if k not in ("name", "lr_schedule")}
        if isinstance(spec, OptimizerSpec) and spec.lr_schedule is not None:
            kwargs["lr"] = build_schedule(spec.lr_schedule, spec.lr)
        members.append((name, TRANSFORMS[spec.name](**kwargs)))
    return chain(*members)


def _with_attack(built: FederatedAlgorithm, config: AttackConfig, seed: int, num_classes: int) -> FederatedAlgorithm:
    own, attack = built.round_inputs, attack_inputs(config, seed)

    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        return {**own(round, ids, params, server_state), **attack(round, ids, params, server_state)}

    return built._replace(client_update=attacked_update(built.client_update, config, num_classes),
                          round_inputs=inputs)


def build_algorithm(config: Config, model: FunctionalModel, num_classes: int = 2) -> FederatedAlgorithm:
    """The algorithm `config.algorithm.name` names, with its hyperparameters, its server
    half around the configured chain, any attack, and the configured privacy mechanism
    and compression around them."""
    algorithm = find_algorithm(config.algorithm.name)
    setup = Setup(algorithm.hyperparameters.model_validate(config.algorithm.hyperparameters()), model, config)
    built = FederatedAlgorithm(algorithm.client_update(setup), algorithm.server(setup, server_chain(config)))
    if algorithm.local_training and algorithm.steps_only:
        built = built._replace(steps=config.client.steps)
    client_state = algorithm.client_state
    if client_state is not None:
        built = built._replace(client_init=lambda params: client_state(setup, params))
    if algorithm.personal is not None:
        built = built._replace(personal=algorithm.personal(setup))
    if algorithm.round_inputs is not None:
        built = built._replace(round_inputs=algorithm.round_inputs(setup))
    if config.attack is not None:
        built = _with_attack(built, config.attack, config.seed, num_classes)
    return apply_compression(config, apply_privacy(config, built))
