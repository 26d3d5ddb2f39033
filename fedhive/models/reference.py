"""The reference model: Linear(2, 1) -> LeakyReLU(0.2) -> Sigmoid."""

from torch import nn


def reference_model(num_features: int = 2) -> nn.Module:
    """The reference experiment's model; outputs a probability per sample."""
    return nn.Sequential(nn.Linear(num_features, 1), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Flatten(0))
