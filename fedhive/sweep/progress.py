"""A rich progress bar over a sweep's runs (done / failed counts); silent when quiet."""

from __future__ import annotations

from typing import Any


class SweepProgress:
    def __init__(self, total: int, quiet: bool = False):
        self._progress = None
        self.counts: dict[str, Any] = {"done": 0, "failed": 0}  # rich task fields: any values
        if quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("[bold]runs"), MofNCompleteColumn(), BarColumn(),
                                  TextColumn("done {task.fields[done]}  failed {task.fields[failed]}"),
                                  TimeElapsedColumn())
        self._task = self._progress.add_task("runs", total=total, **self.counts)
        self._progress.start()

    def advance(self, status: str) -> None:
        if status in self.counts:
            self.counts[status] += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, **self.counts)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
