"""A user's own algorithm, outside the package: FedAvg whose server step decays by
`decay` each round. Selected with `algorithm.name: tests.algorithms.user_algorithm:ALGORITHM`."""

from __future__ import annotations

from pydantic import Field

from fedhive import Algorithm, Hyperparameters, Setup
from fedhive.client.update import local_update
from fedhive.server.chain import RoundContext, Transform


class Decay(Hyperparameters):
    decay: float = Field(0.9, gt=0, le=1, description="server step multiplier per round")


def server(setup: Setup, configured: Transform) -> Transform:
    def update(updates, state, ctx: RoundContext):
        step, state = configured.update(updates, state, ctx)
        return step * setup.hp.decay**ctx.round, state

    return configured._replace(update=update)


ALGORITHM = Algorithm(
    "fedavg_decay", lambda setup: local_update(setup.trainer()), Decay, server=server,
    defaults={"server": {"aggregate": "weighted_mean", "optimizer": "sgd", "lr": 1.0}},
)
