"""A tiny config for sweep, summarize and report tests: the reference task, a few rounds."""

from __future__ import annotations

from pathlib import Path

TINY = """\
rounds: 4
data: {batch_size: 200, batches: {min: 1, max: 2}, test_size: 200, clients: 50}
cohort: {min: 3, max: 4}
checkpoint: {every: 1}
evaluation: {per_client: false}
"""


def write_tiny(folder: Path, extra: str = "") -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY + extra)
    return path
