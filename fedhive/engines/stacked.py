"""Clients that start from different model versions, trained in one `vmap` over stacked
start parameters (asynchronous runs), chunked to bound memory."""

from __future__ import annotations

import torch
from torch.func import vmap

from fedhive.client.update import ClientUpdate
from fedhive.data.batches import Batches, trim_steps
from fedhive.engines.base import CohortResult


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
        parts.append(fn(params[sl], data, rows(states), rows(inputs), keys[sl]))
    if not parts:
        return CohortResult(params.new_zeros(0, params.shape[-1]), params.new_zeros(0), {}, {}, {})
    cat = lambda xs: torch.cat(xs) if xs else xs  # noqa: E731
    return CohortResult(
        cat([p.update for p in parts]),
        cat([p.weight for p in parts]).to(params.dtype),
        {k: cat([p.metrics[k] for p in parts]) for k in parts[0].metrics},
        {k: cat([p.state[k] for p in parts]) for k in parts[0].state},
        {k: cat([p.outputs[k] for p in parts]) for k in parts[0].outputs},
    )
