"""A parsed copy of a dataset's source files kept beside them, reused while the files are unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from fedhive.run_folder.files import atomic_writer

FORMAT = "fedhive.parsed/1"


def source_key(files: Sequence[Path], extra: str = "") -> str:
    """SHA-256 over each file's name, size and modification time (and `extra`): any edit,
    replacement or added/removed file changes it, without reading the files."""
    stats = []
    for f in files:
        st = os.stat(f)
        stats.append([f"{f.parent.name}/{f.name}", st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps([FORMAT, extra, stats]).encode()).hexdigest()


def cached(path: Path, key: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`build()` (a dict of tensors, strings, lists), read back from `path` when it was saved
    under `key`, else built and saved there. Tensors read back are memory-mapped: loading
    is a few seconds whatever the size, and pages are read as training touches them."""
    if path.is_file():
        try:
            blob = torch.load(path, mmap=True, weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError):  # torn or foreign: rebuild
            blob = None
        if isinstance(blob, dict) and blob.get("key") == key:
            return blob["value"]
    value = build()
    try:
        with atomic_writer(path) as f:
            torch.save({"key": key, "value": value}, f)
    except OSError as e:  # a read-only data folder: run on, but say why the next load parses again
        print(f"note: cannot write the parsed copy {path} ({e.strerror or e}); the next load parses "
              "the source files again", file=sys.stderr)
    return value
