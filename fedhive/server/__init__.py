"""The server side: a chain of small (init, update) transforms over flat tensors."""

from fedhive.server.aggregate import mean, sum_updates, weighted_mean
from fedhive.server.chain import RoundContext, Transform, chain
from fedhive.server.optim import adagrad, adam, momentum, sgd, yogi
from fedhive.server.robust import bulyan, krum, median, multi_krum, norm_bound, trimmed_mean

__all__ = ["RoundContext", "Transform", "adagrad", "adam", "bulyan", "chain", "krum", "mean", "median", "momentum",
           "multi_krum", "norm_bound", "sgd", "sum_updates", "trimmed_mean", "weighted_mean", "yogi"]
