"""A rank's native (C++) diagnostics go to a log file, so its terminal shows fedhive's one line.

When a peer dies, torch.distributed's C++ layer writes warnings with backtraces straight to
file descriptor 2. A rank moves Python's own stderr (fedhive's messages, warnings,
tracebacks) to a copy of that descriptor and points descriptor 2 at a log file, which an
error message then names."""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
from pathlib import Path


def divert_native_stderr(rank: int) -> Path:
    """Point descriptor 2 at a fresh log file (kept only if something was written to it)."""
    fd, name = tempfile.mkstemp(prefix=f"fedhive-rank{rank}-", suffix=".log")
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")
    path = Path(name)
    atexit.register(_remove_if_empty, path)
    return path


def describe(path: Path | None) -> str:
    """` (native log: PATH)` when the log holds something, else nothing."""
    try:
        return f" (native log: {path})" if path is not None and path.stat().st_size else ""
    except OSError:
        return ""


def _remove_if_empty(path: Path) -> None:
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass
