"""The event queue of an asynchronous run: a heap on simulated time."""

from __future__ import annotations

import heapq
from typing import NamedTuple

ARRIVE, LOST, START = 0, 1, 2  # at equal times: deliver updates, then losses, then new starts


class Event(NamedTuple):
    """Ordered by (time, kind, client, task): ties never depend on insertion order."""

    time: float
    kind: int
    client: int
    task: int


class EventQueue:
    """A min-heap of Events; `state_dict` is the sorted list, so it checkpoints as data."""

    def __init__(self, events: list[Event] | None = None):
        self._heap = sorted(events or [])

    def push(self, time: float, kind: int, client: int, task: int) -> None:
        heapq.heappush(self._heap, Event(float(time), kind, int(client), int(task)))

    def pop(self) -> Event:
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def state_dict(self) -> list[tuple]:
        return [tuple(e) for e in sorted(self._heap)]

    def load_state_dict(self, events: list[tuple]) -> None:
        self._heap = sorted(Event(*e) for e in events)
