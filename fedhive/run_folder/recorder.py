"""The run folder: resolved config, per-round metrics rows (jsonl + csv) and the summary."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedhive.config import Config, dump_config
from fedhive.errors import UserError
from fedhive.run_folder.files import atomic_write, open_append, umask


def new_run_dir(config: Config) -> Path:
    """`output_dir/name` (or a timestamp); never an existing folder: a suffix is added.
    It appears with its config.yaml already in it (made under a hidden name, then renamed),
    so any run folder that exists can be resumed, from round 0 at least."""
    base = Path(config.output_dir) / (config.name or time.strftime("%Y%m%d-%H%M%S"))
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{base.name}.", dir=base.parent))
    except OSError as e:
        raise UserError(f"output_dir: cannot create the run folder {base}: {e.strerror or e}") from None
    os.chmod(staging, 0o777 & ~umask())  # as mkdir would make it; mkdtemp makes 0700
    atomic_write(staging / "config.yaml", dump_config(config).encode())
    path, n = base, 1
    while True:
        if not path.exists():
            try:
                os.rename(staging, path)
                return path
            except OSError:  # taken meanwhile by another run
                pass
        n += 1
        path = base.with_name(f"{base.name}-{n}")


def write_csv(rows: list[dict[str, Any]], path: Path, columns: Sequence[str] | None = None) -> None:
    """The rows as CSV, written with `atomic_write`; the columns are `columns`, else the
    union of the rows' keys in first-seen order."""
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue().encode())


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The metrics rows of a run folder."""
    path = Path(run_dir) / "metrics.jsonl"
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Recorder:
    """Appends one metrics row per round, flushed, so a killed run loses nothing written."""

    def __init__(self, run_dir: Path, config: Config, rows: list[dict[str, Any]] | None = None):
        """`rows` are those already in metrics.jsonl (a resumed run); new rows append."""
        from fedhive.run_folder.environment import write_environment
        from fedhive.run_folder.tracking import build_trackers

        self.run_dir = run_dir
        self.rows: list[dict[str, Any]] = list(rows or [])
        text = dump_config(config)
        atomic_write(run_dir / "config.yaml", text.encode())
        write_environment(run_dir, config)
        self._jsonl = open_append(run_dir / "metrics.jsonl")
        # Hooks see every row and the closing summary (tracking: tensorboard, mlflow).
        self.hooks = build_trackers(config.tracking, run_dir, config.model_dump(mode="json"), text, len(self.rows))

    def log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._jsonl.write(json_line(row).encode())
        self._jsonl.flush()
        for hook in self.hooks:
            hook.log(row)

    def close(self, summary: dict[str, Any]) -> None:
        self._jsonl.close()
        write_csv(self.rows, self.run_dir / "metrics.csv")
        atomic_write(self.run_dir / "summary.json", (json.dumps(finite_json(summary), indent=2) + "\n").encode())
        for hook in self.hooks:
            hook.close(summary, self.run_dir)


def truncate_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Make metrics.jsonl hold exactly `rows` (a checkpoint's history) before a resume.

    Usually the file holds those rows and then some written after the checkpoint (or a
    torn last line): it is cut after the last kept row, so nothing valid is rewritten.
    If it does not start with those rows, it is rewritten from them."""
    path = run_dir / "metrics.jsonl"
    offset, kept = 0, 0
    if path.is_file():
        with open(path, "rb") as f:
            for line in f:
                if kept == len(rows) or not _same_row(line, rows[kept]):
                    break
                offset, kept = offset + len(line), kept + 1
    if kept == len(rows):
        with open_append(path) as f:
            f.truncate(offset)
        return
    atomic_write(path, "".join(map(json_line, rows)).encode())


def _same_row(line: bytes, row: dict[str, Any]) -> bool:
    try:
        return line.endswith(b"\n") and json.loads(line) == json.loads(json_line(row))
    except ValueError:
        return False


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def json_line(row: dict[str, Any]) -> str:
    """One metrics row as a line of strict JSON (non-finite numbers become null)."""
    return json.dumps(finite_json(row), allow_nan=False) + "\n"
