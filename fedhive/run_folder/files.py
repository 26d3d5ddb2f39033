"""Writing files (a run folder's above all) without ever following a symlink: atomic
replace, append, figures. A folder shared with others may hold planted links."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fedhive.errors import UserError


def refuse_symlink(path: Path) -> None:
    """UserError if `path` itself is a symbolic link (the folders above it may be)."""
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; refusing to write through it")


def make_folder(path: Path) -> Path:
    """`path` made if missing (parents too), refusing a symbolic link: a planted link at a
    run folder's `checkpoints/` or `plots/` would move every write beneath it elsewhere."""
    path = Path(path)
    refuse_symlink(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    with atomic_writer(path) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` when the block ends without an error (streamed,
    so a large file needs no copy in memory): a fresh temporary file in the same folder
    (mkstemp: O_CREAT | O_EXCL, so never an existing file or link), fsync, rename, fsync
    the folder. On an error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    refuse_symlink(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # as open() would create it; mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def open_append(path: Path) -> BinaryIO:
    """`path` opened for appending (created if missing), refusing a symbolic link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        refuse_symlink(Path(path))
        raise UserError(f"{path}: cannot open for writing: {e.strerror or e}") from None
    return os.fdopen(fd, "ab")


def save_figure(fig: Any, path: Path) -> Path:
    """A matplotlib figure as a PNG at `path`, written with `atomic_write`."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    make_folder(path.parent)
    atomic_write(path, buf.getvalue())
    return path


def umask() -> int:
    """This process's file-creation mask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
