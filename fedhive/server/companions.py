"""Server halves of client updates that send more than an update: SCAFFOLD's server
control variate and FedNova's effective step count. Both read the cohort's per-client
outputs in `ctx.client_states` (what the client updates returned as state)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from fedhive.server.chain import RoundContext, Transform, finite_rows


class ControlState(NamedTuple):
    """SCAFFOLD's server control variate c, `[P]`."""

    c: torch.Tensor


def scaffold_control(num_clients: int) -> Transform:
    """SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, line 17): c <- c + (|S|/N) mean(dc_i)
    = c + sum(dc_i) / N over the cohort S, N = `num_clients`. Reads `delta_c` [K, P];
    non-finite rows are skipped. The updates pass through unchanged."""

    def update(updates: torch.Tensor, state: ControlState, ctx: RoundContext):
        dc = ctx.client_states["delta_c"]
        ok = finite_rows(dc)
        return updates, ControlState(state.c + dc[ok].sum(dim=0) / num_clients)

    return Transform(lambda params: ControlState(torch.zeros_like(params)), update, "server")


def fednova_scale() -> Transform:
    """FedNova (Wang et al. 2020, eq. 7): multiply every normalized update d_i by
    tau_eff = sum_i p_i |a_i|_1 with p_i = n_i / n over the finite rows, so a weighted mean
    afterwards gives tau_eff sum_i p_i d_i. Client stage; reads `steps` [K]."""

    def update(updates: torch.Tensor, state, ctx: RoundContext):
        ok = finite_rows(updates)
        w = ctx.weights.to(updates.dtype) * ok
        steps = ctx.client_states["steps"].to(updates.dtype)
        tau_eff = (w * steps).sum() / w.sum().clamp_min(1e-12)
        return updates * tau_eff, state

    return Transform(lambda params: (), update, "client")
