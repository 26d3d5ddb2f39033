"""A run's plots drawn by a helper process that `fedhive run` starts first, so matplotlib's
import (~0.8 s) overlaps torch's instead of following the last round. The command waits
for it: the plots are in the run folder when the command returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fedhive

# The helper imports matplotlib at once, then waits for one request on stdin (an empty
# stdin, as when the command ends without plots, makes it exit without drawing).
_HELPER = ("import sys; sys.path.insert(0, sys.argv[1]); "
           "from fedhive.reports.plot_process import serve; serve()")


class PlotProcess:
    """The helper process; `plot_rows` takes the arguments of `reports.plots.plot_rows`.
    Use as a context manager: leaving it stops a helper that was never asked to draw."""

    def __init__(self) -> None:
        package_parent = str(Path(fedhive.__file__).resolve().parents[1])
        self.proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-c", _HELPER, package_parent],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)  # a Ctrl-C stops the run after its round; the helper still draws

    def plot_rows(self, rows: list[dict[str, Any]], out_dir: Path, title: str = "",
                  config: dict[str, Any] | None = None) -> list[Path]:
        """Draw in the helper; should it fail (or be gone), draw here, so any error is the
        one drawing here would raise."""
        request = {"rows": rows, "out_dir": str(out_dir), "title": title, "config": config}
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                out, _ = proc.communicate(json.dumps(request).encode())
                if proc.returncode == 0:
                    return [Path(p) for p in json.loads(out)]
            except (OSError, ValueError):  # a helper that died early: a broken pipe, no answer
                proc.kill()
                proc.wait()
        from fedhive.reports.plots import plot_rows

        return plot_rows(rows, out_dir, title=title, config=config)

    def close(self) -> None:
        """Stop the helper if it was never asked to draw."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate()
            self.proc = None

    def __enter__(self) -> PlotProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wanted() -> bool:
    """A helper pays off where this process draws the plots: not in a distributed run's other ranks."""
    return os.environ.get("RANK", "0") == "0"


def serve() -> None:
    """The helper's body: import matplotlib, read one request, draw it, print the paths."""
    from fedhive.reports.plots import plot_rows, pyplot

    pyplot()  # matplotlib's import, while the command imports torch
    raw = sys.stdin.buffer.read()
    if not raw:
        return
    req = json.loads(raw)
    paths = plot_rows(req["rows"], Path(req["out_dir"]), title=req["title"], config=req["config"])
    print(json.dumps([str(p) for p in paths]))
