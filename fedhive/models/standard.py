"""Small standard classifiers: logistic regression, an MLP and the CNN of McMahan et al. 2017.

All are plain stacks; only the CNN with `norm="batch"` has batch-norm running statistics
(see `FunctionalModel`). Each outputs logits `[N, num_classes]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from fedhive.errors import UserError


def logistic(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """Multinomial logistic regression on the flattened input."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


def mlp(input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (200, 200)) -> nn.Module:
    """Fully connected ReLU layers of widths `hidden` (McMahan et al.'s 2NN: 200, 200)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


def cnn(input_shape: Sequence[int], num_classes: int, channels: Sequence[int] = (32, 64), dense: int = 512,
        norm: str = "none") -> nn.Module:
    """The CNN of McMahan et al. 2017: per entry of `channels`, a 5x5 'same' convolution,
    ReLU and 2x2 max-pooling; then a dense ReLU layer and the output layer. The dense
    layer's input follows the image size (28x28 -> 7x7 maps, 8x8 -> 2x2). `norm="batch"`
    puts a BatchNorm2d after each convolution."""
    if len(input_shape) not in (2, 3):
        raise UserError(f"model.name: cnn needs image inputs [C, H, W], the dataset's are {tuple(input_shape)}")
    c, h, w = (1, *input_shape) if len(input_shape) == 2 else input_shape
    layers: list[nn.Module] = [nn.Unflatten(1, (1, h))] if len(input_shape) == 2 else []  # add the channel
    for out in channels:
        if h < 2 or w < 2:
            raise UserError(f"model.channels: {len(channels)} pooling layers shrink a {h}x{w} map to nothing")
        layers += [nn.Conv2d(c, out, 5, padding=2), *([nn.BatchNorm2d(out)] if norm == "batch" else []),
                   nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, dense), nn.ReLU(), nn.Linear(dense, num_classes))
