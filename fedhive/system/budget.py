"""Data-side step budgets: a client that may run only its first n steps gets a mask that is
zero beyond them, so every client update does partial work unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive.data.batches import Batches

PLAN_CHUNK = 256  # clients whose data is drawn at once while counting work
CACHE_ELEMENTS = 50_000_000  # keep a planned cohort's data for training below this size


def _trim(b: Batches) -> Batches:
    """Drop trailing steps that are padding for every row."""
    steps = int((b.mask.amax(dim=-1) > 0).sum(-1).max().item()) if b.mask.numel() else 0
    return Batches(b.x[:, :steps], b.y[:, :steps], b.mask[:, :steps])


class BudgetedData:
    """A view of `dataset` whose client c runs only its first `budgets[c]` steps; every
    other attribute is the dataset's. It can hold the cohort's data already drawn while
    planning (`cached`), so counting work does not draw it twice."""

    def __init__(self, dataset, budgets: dict[int, int], cached: tuple[int, list[int], Batches] | None = None):
        self.dataset, self.budgets, self._cached = dataset, budgets, cached

    def __getattr__(self, name: str):
        return getattr(self.dataset, name)

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        ids = [int(c) for c in client_ids]
        b = self._from_cache(round, ids)
        if b is None:
            b = self.dataset.cohort_batches(round, ids)
        cut = [(i, self.budgets[c]) for i, c in enumerate(ids) if c in self.budgets]
        if cut:
            mask = b.mask.clone()
            for i, n in cut:
                mask[i, n:] = 0
            keep = mask.reshape(*mask.shape, *[1] * (b.x.dim() - mask.dim()))
            b = Batches(b.x * keep, b.y * mask, mask)
        return _trim(b)

    def _from_cache(self, round: int, ids: list[int]) -> Batches | None:
        if self._cached is None or self._cached[0] != round:
            return None
        _, cached_ids, batches = self._cached
        pos = {c: i for i, c in enumerate(cached_ids)}
        if not all(c in pos for c in ids):
            return None
        rows = torch.tensor([pos[c] for c in ids], dtype=torch.long)
        return _trim(Batches(*(t.index_select(0, rows) for t in batches)))


def step_samples(dataset, round: int, client_ids: Sequence[int]) -> tuple[list[torch.Tensor], Batches | None]:
    """Real samples per step of each client, `[S_c]`, read from the data the client would
    receive; also that data when it is small enough to keep for training."""
    ids = [int(c) for c in client_ids]
    out: list[torch.Tensor] = []
    chunks: list[Batches] = []
    total = 0
    for lo in range(0, len(ids), PLAN_CHUNK):
        b = dataset.cohort_batches(round, ids[lo:lo + PLAN_CHUNK])
        out.extend(_real(row) for row in b.mask.sum(-1))
        total += b.x.numel()
        chunks.append(b if total <= CACHE_ELEMENTS else None)
    if not chunks or any(c is None for c in chunks):
        return out, None
    return out, concat_batches(chunks)


def concat_batches(chunks: list[Batches]) -> Batches:
    """Chunks of one cohort padded to a common step count and stacked."""
    steps = max(c.mask.shape[1] for c in chunks)

    def pad(t: torch.Tensor) -> torch.Tensor:
        extra = steps - t.shape[1]
        return t if extra == 0 else torch.cat([t, t.new_zeros(t.shape[0], extra, *t.shape[2:])], 1)

    return Batches(*(torch.cat([pad(getattr(c, f)) for c in chunks]) for f in Batches._fields))


def _real(row: torch.Tensor) -> torch.Tensor:
    """A client's per-step sample counts without its trailing padding steps."""
    nz = (row > 0).nonzero()
    return row[: int(nz[-1]) + 1] if len(nz) else row[:0]
