"""Build a model by config name (or `module.path:Class`), initialised from the keyed generator."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence

import torch
from torch import nn

from fedhive import rng
from fedhive.config import ModelConfig
from fedhive.errors import UserError
from fedhive.models import standard
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.reference import reference_model

# name -> (factory(config, input_shape, num_classes), the loss `auto` picks)
_MODELS: dict[str, tuple[Callable[[ModelConfig, tuple[int, ...], int], nn.Module], str]] = {
    "reference": (lambda cfg, shape, k: reference_model(shape[0]), "bce"),
    "logistic": (lambda cfg, shape, k: standard.logistic(shape, k), "cross_entropy"),
    "mlp": (lambda cfg, shape, k: standard.mlp(shape, k, cfg.hidden), "cross_entropy"),
    "cnn": (lambda cfg, shape, k: standard.cnn(shape, k, cfg.channels, cfg.dense), "cross_entropy"),
}


def import_module_class(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Instantiate `module.path:Class` with `model.kwargs`, adding `input_shape` and
    `num_classes` when its constructor takes them and the kwargs do not set them."""
    module_name, _, class_name = config.name.partition(":")
    # Like `python -m`: a module in the folder fedhive runs from is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"model.name: cannot import {config.name} ({e})") from None
    params = inspect.signature(cls).parameters
    extra = {k: v for k, v in (("input_shape", input_shape), ("num_classes", num_classes))
             if k in params and k not in config.kwargs}
    try:
        module = cls(**config.kwargs, **extra)
    except TypeError as e:
        raise UserError(f"model.kwargs: {config.name}: {e}") from None
    if not isinstance(module, nn.Module):
        raise UserError(f"model.name: {config.name} is not a torch.nn.Module")
    return module


def build_model(config: ModelConfig, input_shape: int | Sequence[int], seed: int,
                num_classes: int = 2) -> FunctionalModel:
    """The named model for inputs of `input_shape` (one sample's shape; an int means
    `(int,)`) and `num_classes` labels, with its loss; its initial weights depend only on
    `seed`."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    factory, default_loss = _MODELS.get(config.name, (import_module_class, "cross_entropy"))
    loss = default_loss if config.loss == "auto" else config.loss
    if loss == "bce" and num_classes != 2:
        raise UserError(f"model.loss: bce needs 2 classes, the dataset has {num_classes}; use a model with "
                        "cross_entropy (logistic, mlp, cnn)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.key(seed, purpose="model-init"))
        module = factory(config, shape, num_classes)
    return FunctionalModel(module, LOSSES[loss])
