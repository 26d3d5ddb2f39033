"""Drawing the next chunk's data on a background thread while the current chunk computes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch

T = TypeVar("T")
_END = object()


def spare_core() -> bool:
    """Whether a background draw may take a core of its own: the run uses more than one
    torch thread and the process may run on more than one core. A run kept to one thread
    (fedhive's choice for tiny models, for a busy machine) stays on one: under load a
    second busy thread was measured to slow such a run (K = 10,000, bench/README.md)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    return torch.get_num_threads() > 1 and cores > 1


class Ahead(Generic[T]):
    """`items`, with item i+1 produced on one background thread while the caller works
    on item i (torch ops release the GIL, so a keyed draw and a forward/backward run at
    once). At most one item is ahead, so memory stays bounded by two items. Items come
    in the same order, each produced exactly as without the thread: only when, not
    what, changes. `lock` is held while an item is produced; whoever else reads the
    item's source (a fallback redraw) takes it too, so the source is never read twice
    at once."""

    def __init__(self, items: Iterator[T], lock: threading.Lock):
        self._items, self._lock = items, lock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fedhive-draw")
        self._pending: Future | None = self._pool.submit(self._produce)

    def _produce(self):
        with self._lock:
            return next(self._items, _END)

    def __iter__(self) -> "Ahead[T]":
        return self

    def __next__(self) -> T:
        if self._pending is None:
            raise StopIteration
        try:
            item = self._pending.result()
        except BaseException:
            self.close()
            raise
        if item is _END:
            self.close()
            raise StopIteration
        self._pending = self._pool.submit(self._produce)
        return item

    def close(self) -> None:
        """Wait for the item in flight (if any) and stop the thread."""
        self._pending = None
        self._pool.shutdown(wait=True)


@contextmanager
def ahead(items: Iterator[T], lock: threading.Lock, enabled: bool) -> Iterator[Iterator[T]]:
    """`items` drawn one ahead on a background thread (`Ahead`) when `enabled`, else as
    they are; the thread is stopped on leaving, whether or not every item was taken."""
    if not enabled:
        yield items
        return
    drawn = Ahead(items, lock)
    try:
        yield drawn
    finally:
        drawn.close()
