"""Build a model by config name (or `module.path:Class`), initialised from the keyed generator."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from fedhive import rng
from fedhive.config import ModelConfig
from fedhive.config.user_code import import_object
from fedhive.errors import UserError
from fedhive.models import sequence, standard, vision
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.reference import reference_model

# name -> (factory(config, input_shape, num_classes), the loss `auto` picks)
_MODELS: dict[str, tuple[Callable[[ModelConfig, tuple[int, ...], int], nn.Module], str]] = {
    "reference": (lambda cfg, shape, k: reference_model(shape[0]), "bce"),
    "logistic": (lambda cfg, shape, k: standard.logistic(shape, k), "cross_entropy"),
    "mlp": (lambda cfg, shape, k: standard.mlp(shape, k, cfg.hidden), "cross_entropy"),
    "cnn": (lambda cfg, shape, k: standard.cnn(shape, k, cfg.channels, cfg.dense, cfg.norm), "cross_entropy"),
    "femnist_cnn": (lambda cfg, shape, k: vision.femnist_cnn(shape, k), "cross_entropy"),
    "simple_cnn": (lambda cfg, shape, k: vision.simple_cnn(shape, k), "cross_entropy"),
    "resnet": (lambda cfg, shape, k: vision.resnet(shape, k, cfg.channels), "cross_entropy"),
    "resnet_gn": (lambda cfg, shape, k: vision.resnet_gn(shape, k, cfg.channels), "cross_entropy"),
    "char_lstm": (lambda cfg, shape, k: token_model("char_lstm", shape, sequence.TokenLSTM(k, cfg.embedding, cfg.lstm)),
                  "cross_entropy"),
    "word_lstm": (lambda cfg, shape, k: token_model("word_lstm", shape, sequence.TokenLSTM(
        k, cfg.embedding, cfg.lstm, every_step=True, dense=cfg.dense)), "sequence_cross_entropy"),
    "bag_of_words": (lambda cfg, shape, k: token_model("bag_of_words", shape, sequence.BagOfWords(
        vocabulary(cfg), cfg.embedding, k)), "cross_entropy"),
}


def token_model(name: str, input_shape: tuple[int, ...], module: nn.Module) -> nn.Module:
    """`module`, once the dataset is known to hold token sequences `[T]`."""
    sequence.token_input(input_shape, name)
    return module


def vocabulary(config: ModelConfig) -> int:
    if config.vocab_size is None:
        raise UserError("model.vocab_size: bag_of_words needs its input vocabulary (sent140: data.vocab_size + 2)")
    return config.vocab_size


def import_module_class(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Instantiate `module.path:Class` with `model.kwargs`, adding `input_shape` and
    `num_classes` when its constructor takes them and the kwargs do not set them."""
    cls = user_model_class(config.name)
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


def user_model_class(name: str) -> type[nn.Module]:
    """The `module.path:Class` named `name`, imported and checked to be an nn.Module subclass."""
    return cast(type[nn.Module], import_object(name, "model.name", expected=nn.Module))


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
