"""Moving a cohort's per-client rows between ranks: each rank packs its slice into one matrix
per dtype (one collective each, usually one in all), and the gathered rows go back into
cohort order."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch


class Column(NamedTuple):
    """One per-client quantity: rows are `[n, *shape]` of `dtype`."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]


Schema = tuple[Column, ...]


def schema_of(rows: dict[str, torch.Tensor]) -> Schema:
    """The columns of a slice's rows, in insertion order."""
    return tuple(Column(k, v.dtype, tuple(v.shape[1:])) for k, v in rows.items())


def balanced_slices(work: Sequence[float], world: int) -> list[list[int]]:
    """Split cohort positions over `world` ranks so each gets about the same work: longest
    job first onto the least-loaded rank (ties to the lower rank), each slice in cohort
    order. Deterministic, so every rank computes the same split without talking."""
    order = sorted(range(len(work)), key=lambda i: (-work[i], i))
    heap = [(0.0, r) for r in range(world)]
    slices: list[list[int]] = [[] for _ in range(world)]
    for i in order:
        load, r = heapq.heappop(heap)
        slices[r].append(i)
        heapq.heappush(heap, (load + float(work[i]), r))
    return [sorted(s) for s in slices]


def pack(rows: dict[str, torch.Tensor], schema: Schema, n: int, device: torch.device) -> dict[torch.dtype, torch.Tensor]:
    """The slice's rows as one `[n, C]` matrix per dtype; a missing column (an empty
    slice) is filled with zero rows."""
    parts: dict[torch.dtype, list[torch.Tensor]] = {}
    for col in schema:
        value = rows.get(col.name)
        if value is None:
            value = torch.zeros(n, *col.shape, dtype=col.dtype, device=device)
        parts.setdefault(col.dtype, []).append(value.reshape(n, math.prod(col.shape)))
    return {dtype: torch.cat(cols, dim=1) for dtype, cols in parts.items()}


def unpack(mats: dict[torch.dtype, torch.Tensor], schema: Schema) -> dict[str, torch.Tensor]:
    """The inverse of `pack`: `{name: [K, *shape]}`."""
    offsets = {dtype: 0 for dtype in mats}
    out = {}
    for col in schema:
        width = math.prod(col.shape)
        start = offsets[col.dtype]
        mat = mats[col.dtype]
        out[col.name] = mat[:, start : start + width].reshape(mat.shape[0], *col.shape)
        offsets[col.dtype] = start + width
    return out


def gather_rows(group, round: int, rows: dict[str, torch.Tensor], slices: list[list[int]],
                rank: int, schema: Schema, device: torch.device) -> dict[str, torch.Tensor]:
    """Every rank's rows, as `{name: [K, ...]}` in cohort order. Slices are padded to the
    longest one because `all_gather` needs equal shapes."""
    longest = max(len(s) for s in slices)
    total = sum(len(s) for s in slices)
    mine = pack(rows, schema, len(slices[rank]), device)
    full = {}
    for dtype, mat in mine.items():
        padded = mat.new_zeros(longest, mat.shape[1])
        padded[: mat.shape[0]] = mat
        parts = group.all_gather(round, padded)
        merged = mat.new_empty(total, mat.shape[1])
        for r, positions in enumerate(slices):
            if positions:
                merged[torch.tensor(positions, device=device)] = parts[r][: len(positions)]
        full[dtype] = merged
    return unpack(full, schema)
