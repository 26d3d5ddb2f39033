"""A user model for the `module.path:Class` test."""

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, input_shape, num_classes, width=4):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], width), nn.Tanh(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)
