"""Asynchronous federated training on the simulated clock (FedBuff, FedAsync)."""

from fedhive.asynchronous.runner import AsyncRunner
from fedhive.asynchronous.staleness import example_weight, staleness_weight

__all__ = ["AsyncRunner", "example_weight", "staleness_weight"]
