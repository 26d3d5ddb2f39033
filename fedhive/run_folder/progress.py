"""A rich progress bar showing round, loss, accuracy, elapsed time and ETA; silent when quiet."""

from __future__ import annotations

from typing import Any


class RoundProgress:
    def __init__(self, total: int, quiet: bool = False, start: int = 0):
        self._progress = None
        if quiet:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("[bold]round"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task("rounds", total=total, completed=start, loss="-", acc="-")
        self._progress.start()

    def update(self, row: dict[str, Any]) -> None:
        if self._progress is None:
            return
        fields: dict[str, Any] = {"loss": _fmt(row.get("train_loss"))}  # rich task fields: any values
        if row.get("test_accuracy") is not None:
            fields["acc"] = _fmt(row["test_accuracy"])
        self._progress.update(self._task, advance=1, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}"
