"""Image models of the field's benchmarks: LEAF's FEMNIST CNN and basic-block ResNets (GroupNorm or BatchNorm)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from fedhive.errors import UserError
from fedhive.models import standard

GROUPS = 2  # GroupNorm groups, as Hsieh et al. 2020 use in place of BatchNorm for non-IID clients


def femnist_cnn(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """LEAF's FEMNIST CNN: two 5x5 'same' convolutions (32, 64) each with 2x2 max-pooling,
    a dense layer of 2048 and the output layer."""
    return standard.cnn(input_shape, num_classes, (32, 64), 2048)


def simple_cnn(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """NIID-Bench's simple CNN (Li et al. 2022, LeNet-5 style): 5x5 'valid' convolutions of 6
    and 16 channels, each with ReLU and 2x2 max-pooling, then dense ReLU layers of 120 and 84."""
    if len(input_shape) not in (2, 3):
        raise UserError(f"model.name: simple_cnn needs image inputs [C, H, W], the dataset's are {tuple(input_shape)}")
    c, h, w = (1, *input_shape) if len(input_shape) == 2 else input_shape
    if min(h, w) < 16:
        raise UserError(f"model.name: simple_cnn needs images of at least 16x16, the dataset's are {h}x{w}")
    side = lambda n: ((n - 4) // 2 - 4) // 2  # noqa: E731  two valid 5x5 convolutions, each pooled by 2
    return nn.Sequential(*([nn.Unflatten(1, (1, h))] if len(input_shape) == 2 else []),
                         nn.Conv2d(c, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * side(h) * side(w), 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, num_classes))


def group_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(min(GROUPS, channels), channels)


Norm = Callable[[int], nn.Module]  # channels -> normalization layer


class Block(nn.Module):
    """A ResNet basic block: two 3x3 convolutions with normalization, plus the (projected) input."""

    def __init__(self, inputs: int, outputs: int, stride: int, norm: Norm = group_norm):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), norm(outputs), nn.ReLU(),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False), norm(outputs))
        self.skip = nn.Identity() if stride == 1 and inputs == outputs else nn.Sequential(
            nn.Conv2d(inputs, outputs, 1, stride, bias=False), norm(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet(input_shape: Sequence[int], num_classes: int, channels: Sequence[int] = (16, 32, 64),
           norm: Norm = nn.BatchNorm2d, name: str = "resnet") -> nn.Module:
    """A small ResNet: a 3x3 stem, one basic block per entry of `channels` (stride 2 after
    the first), global average pooling and the output layer. With the default BatchNorm and
    three stages it is a ResNet-8 (8 weight layers, He et al. 2016's CIFAR family)."""
    if len(input_shape) != 3:
        raise UserError(f"model.name: {name} needs image inputs [C, H, W], the dataset's are {tuple(input_shape)}")
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], channels[0], 3, 1, 1, bias=False), norm(channels[0]),
                               nn.ReLU()]
    for i, (a, b) in enumerate(zip([channels[0], *channels], channels)):
        layers.append(Block(a, b, 1 if i == 0 else 2, norm))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], num_classes))


def resnet_gn(input_shape: Sequence[int], num_classes: int, channels: Sequence[int] = (32, 64, 128)) -> nn.Module:
    """`resnet` with GroupNorm, as Hsieh et al. 2020 advise for non-IID clients: it keeps no
    running statistics, so nothing but the weights is averaged."""
    return resnet(input_shape, num_classes, channels, group_norm, "resnet_gn")
