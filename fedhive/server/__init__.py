"""The server side: a chain of small (init, update) transforms over flat tensors."""

from fedhive.server.aggregate import mean, sum_updates, weighted_mean
from fedhive.server.chain import RoundContext, Transform, chain
from fedhive.server.optim import adam, sgd

__all__ = ["RoundContext", "Transform", "adam", "chain", "mean", "sgd", "sum_updates", "weighted_mean"]
