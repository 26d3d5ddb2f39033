"""Models: small standard networks and the functional view engines train them through."""

from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES, Loss
from fedhive.models.registry import build_model

__all__ = ["FunctionalModel", "LOSSES", "Loss", "build_model"]
