"""Clients that start from different model versions, trained in one `vmap` over stacked
start parameters (asynchronous runs), chunked to bound memory; a chunk that `vmap_rule`
says would not gain (one client, an outlier beside short ones) runs one at a time."""

from __future__ import annotations

from typing import cast

import torch
from torch.func import vmap

from fedhive.client.update import ClientUpdate
from fedhive.data.batches import Batches, trim_steps
from fedhive.engines.base import CohortResult
from fedhive.engines.vmap_rule import chunk_steps, one_at_a_time, vmap_pays, vmapped_result


def run_stacked(update: ClientUpdate, params: torch.Tensor, batches: Batches, states: dict[str, torch.Tensor],
                inputs: dict[str, torch.Tensor], keys: torch.Tensor, chunk_size: int) -> CohortResult:
    """Client k trains from `params[k]` on `batches[k]`; results in row order. Each chunk is
    padded only to its own longest client."""
    fn = vmap(update)
    parts = []
    for lo in range(0, params.shape[0], chunk_size):
        sl = slice(lo, lo + chunk_size)
        data = trim_steps(Batches(*(t[sl] for t in batches)))
        rows = lambda d: {k: v[sl] for k, v in d.items()}  # noqa: E731
        args = (params[sl], data, rows(states), rows(inputs), keys[sl])
        if vmap_pays(*chunk_steps(data)):
            parts.append(vmapped_result(fn(*args), params.dtype))
        else:
            parts.append(one_at_a_time(update, *args, stacked=True))
    if not parts:
        return CohortResult(params.new_zeros(0, params.shape[-1]), params.new_zeros(0), {}, {}, {})
    cat = lambda name: {k: torch.cat([getattr(p, name)[k] for p in parts]) for k in getattr(parts[0], name)}  # noqa: E731
    updates = torch.cat([cast(torch.Tensor, p.updates) for p in parts])  # never reduced here
    return CohortResult(updates, torch.cat([p.weights for p in parts]), cat("metrics"), cat("states"), cat("outputs"))
