"""Graceful stop: SIGINT/SIGTERM ask the round loop to stop after the round in progress."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)

# What signal.signal takes and returns.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class GracefulStop:
    """A context manager. The first SIGINT or SIGTERM only sets `signum`, so the loop can
    finish its round and write a checkpoint; a second one acts as the signal normally
    would (KeyboardInterrupt for SIGINT, termination for SIGTERM). Outside the main
    thread signals cannot be caught, so it does nothing there."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Handler] = {}

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            self._restore()
            signal.raise_signal(signum)
            return
        self.signum = signum
        name = signal.Signals(signum).name
        if os.environ.get("RANK", "0") != "0":  # a distributed run: rank 0 speaks for all
            return
        print(f"fedhive: {name}: stopping after the round in progress (again to stop at once)", file=sys.stderr)

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()
