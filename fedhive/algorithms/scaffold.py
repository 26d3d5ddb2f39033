"""SCAFFOLD, option II (Karimireddy et al. 2020, Algorithm 1): local steps corrected by
the control variates, `g(y) - c_i + c`; the server keeps c and broadcasts it each round."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import torch

from fedhive.algorithms.base import Setup
from fedhive.algorithms.fedavg import FEDAVG, LOCAL
from fedhive.client.state import ClientState
from fedhive.client.update import ClientResult, ClientUpdate, RoundInputs, round_lr
from fedhive.data.batches import Batches
from fedhive.server.chain import RoundContext, Transform, chain, finite_rows


def client_update(setup: Setup) -> ClientUpdate:
    """Reads c_i (`state["c"]`) and c (`inputs["c"]`); after K local steps of size lr,
    `c_i+ = c_i - c + (x - y) / (K lr)`. Keeps c_i+, sends `delta_c = c_i+ - c_i`."""
    lr, train = setup.config.client.lr, setup.trainer()

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        c_i, c = state["c"], inputs["c"]
        run = train(params, data, lambda local, x: c - c_i, inputs)
        delta = params - run.local
        c_new = c_i - c + delta / (run.steps.clamp_min(1.0) * round_lr(inputs, lr))
        return ClientResult(delta, data.sizes, {"c": c_new}, {"delta_c": c_new - c_i}, {"loss": run.loss})

    return update


class ControlState(NamedTuple):
    """SCAFFOLD's server control variate c, `[P]`."""

    c: torch.Tensor


def control_variate(num_clients: int) -> Transform:
    """Line 17: c <- c + (|S|/N) mean(dc_i) = c + sum(dc_i) / N over the cohort S, N =
    `num_clients`; non-finite rows are skipped. The updates pass through unchanged."""

    def update(updates: torch.Tensor, state: ControlState, ctx: RoundContext):
        dc = ctx.outputs["delta_c"]
        return updates, ControlState(state.c + dc[finite_rows(dc)].sum(dim=0) / num_clients)

    return Transform(lambda params: ControlState(torch.zeros_like(params)), update, "server")


def server(setup: Setup, configured: Transform) -> Transform:
    return chain(("server", configured), ("scaffold", control_variate(setup.config.data.clients)))


def round_inputs(setup: Setup):
    def inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
        return {"c": server_state["scaffold"].c.expand(len(ids), -1)}

    return inputs


ALGORITHM = replace(
    FEDAVG, name="scaffold", client_update=client_update, server=server, round_inputs=round_inputs,
    client_state=lambda setup, params: {"c": torch.zeros_like(params)},
    defaults={"client": LOCAL, "server": {"aggregate": "mean", "optimizer": "sgd", "lr": 1.0}},
)
