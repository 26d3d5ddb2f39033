"""FedAvg (McMahan et al. 2017): local SGD on each client, the sample-weighted mean of
the deltas `x - y_k` applied with server SGD at lr 1; FedAvgM (Hsu et al. 2019) puts
server momentum there instead."""

from __future__ import annotations

from dataclasses import replace

from fedhive.algorithms.base import Algorithm, Setup
from fedhive.client.update import ClientUpdate, local_update

LOCAL = {"lr": 0.1}
AVERAGE = {"aggregate": "weighted_mean", "optimizer": "sgd", "lr": 1.0}


def client_update(setup: Setup) -> ClientUpdate:
    return local_update(setup.trainer())


FEDAVG = Algorithm("fedavg", client_update, defaults={"client": LOCAL, "server": AVERAGE}, steps_only=True)
FEDAVGM = replace(FEDAVG, name="fedavgm",
                  defaults={"client": LOCAL, "server": {**AVERAGE, "optimizer": "momentum", "momentum": 0.9}})
ALGORITHMS = (FEDAVG, FEDAVGM)
