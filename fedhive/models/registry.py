"""Build a model by config name, initialised from the keyed generator."""

from __future__ import annotations

import torch

from fedhive import rng
from fedhive.config import ModelConfig
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.reference import reference_model

_MODELS = {"reference": (reference_model, "bce")}


def build_model(config: ModelConfig, num_features: int, seed: int) -> FunctionalModel:
    """The named model with its loss; its initial weights depend only on `seed`."""
    factory, loss = _MODELS[config.name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.key(seed, purpose="model-init"))
        module = factory(num_features)
    return FunctionalModel(module, LOSSES[loss])
