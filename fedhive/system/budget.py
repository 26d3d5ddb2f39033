"""Data-side step budgets: a client that may run only its first n steps gets a mask that is
zero beyond them, so every client update does partial work unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive.data.batches import Batches, Steps, concat_batches, packed, trim_steps

PLAN_CHUNK = 256  # clients whose data is drawn at once while counting work
CACHE_ELEMENTS = 20_000_000  # keep a planned cohort's data for training below this size


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
        return trim_steps(b)

    def cohort_steps(self, round: int, client_ids: Sequence[int]) -> Steps:
        """The budgeted batches, packed (never the dataset's own unbudgeted draw)."""
        return packed(self.cohort_batches(round, client_ids))

    def _from_cache(self, round: int, ids: list[int]) -> Batches | None:
        if self._cached is None or self._cached[0] != round:
            return None
        _, cached_ids, batches = self._cached
        pos = {c: i for i, c in enumerate(cached_ids)}
        if not all(c in pos for c in ids):
            return None
        rows = torch.tensor([pos[c] for c in ids], dtype=torch.long)
        return trim_steps(Batches(*(t.index_select(0, rows) for t in batches)))


def step_samples(dataset, round: int, client_ids: Sequence[int]) -> tuple[torch.Tensor, Batches | None]:
    """Real samples per step of each client, `[K, S]` (zero on padding steps), read from the
    data the clients would receive; also that data when it is small enough to keep."""
    ids = [int(c) for c in client_ids]
    chunks: list[Batches] = []
    masks: list[torch.Tensor] = []
    total = 0
    for lo in range(0, len(ids), PLAN_CHUNK):
        b = dataset.cohort_batches(round, ids[lo:lo + PLAN_CHUNK])
        total += b.x.numel()
        masks.append(b.mask)
        chunks = chunks + [b] if total <= CACHE_ELEMENTS else []
    if not masks:
        return torch.zeros(0, 0), None
    steps = max(m.shape[1] for m in masks)
    per_step = torch.cat([torch.nn.functional.pad(m.sum(-1), (0, steps - m.shape[1])) for m in masks])
    return per_step, (concat_batches(chunks) if chunks else None)
