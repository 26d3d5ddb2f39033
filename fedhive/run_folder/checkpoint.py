"""Checkpoint files: atomic, checksummed saves of an experiment's state, and finding the
newest good one again (falling back past torn or corrupt files with a warning).

A checkpoint is whatever `Experiment.state_dict()` returns, written with `torch.save`
behind a header that carries the SHA-256 of the payload. It is read back with
`weights_only=True`, so it may hold tensors, numbers, strings, lists, tuples and dicts:
state parts keep their state in those (NamedTuples are flattened by the experiment).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from fedhive.config import CheckpointConfig, Config
from fedhive.errors import FedhiveWarning, UserError
from fedhive.run_folder.files import atomic_write, make_folder

MAGIC = b"FHCKPT1\n"
_DIGEST_LEN = 64  # hex SHA-256
_NAME = re.compile(r"round-(\d+)\.ckpt")

# Config fields that never change what a run computes: where it is written, how far it
# goes, how often it is checkpointed, how faults are reported. Changing any other field
# on resume would make the resumed run differ from an uninterrupted one.
RESULT_NEUTRAL = ("name", "output_dir", "rounds", "checkpoint", "faults", "engine.fail_fast", "stop", "tracking")


@runtime_checkable
class Stateful(Protocol):
    """A part of an experiment that keeps state between rounds: checkpointed by name."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class CorruptCheckpoint(Exception):
    """A checkpoint file that is torn, truncated or altered."""


def encode(payload: dict[str, Any]) -> bytes:
    """The file bytes: magic, hex SHA-256 of the torch.save payload, newline, payload."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    return MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data


def decode(blob: bytes, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of a checkpoint file's bytes, or CorruptCheckpoint."""
    head = len(MAGIC) + _DIGEST_LEN + 1
    if len(blob) < head or not blob.startswith(MAGIC):
        raise CorruptCheckpoint("no checkpoint header (truncated?)")
    digest, data = blob[len(MAGIC) : head - 1].decode("ascii", "replace"), blob[head:]
    if hashlib.sha256(data).hexdigest() != digest:
        raise CorruptCheckpoint("checksum mismatch (torn or altered file)")
    # The checksum matched, so a failure here is a state part saving a type that
    # weights_only cannot load: a bug to surface, not a corrupt file to skip.
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(round, path) of the checkpoint files in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


def save_checkpoint(folder: Path, round: int, payload: dict[str, Any], keep: int) -> Path:
    """Write `round-NNNNNN.ckpt` atomically, then delete all but the newest `keep`."""
    make_folder(folder)
    path = folder / f"round-{round:06d}.ckpt"
    atomic_write(path, encode(payload))
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_latest(folder: Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint that reads back intact, and its path; None if there is none.

    A corrupt file is skipped with a warning and the previous one is tried; if every
    file is corrupt, that is a UserError."""
    found = list_checkpoints(folder)
    for _, path in reversed(found):
        try:
            return decode(path.read_bytes(), map_location), path
        except (CorruptCheckpoint, OSError) as e:
            warnings.warn(f"checkpoint {path} is unreadable: {e}; trying the previous one", FedhiveWarning)
    if found:
        raise UserError(f"{folder}: none of the {len(found)} checkpoints is readable")
    return None


class Checkpointer:
    """Saves an experiment every `checkpoint.every` rounds and at its last round."""

    def __init__(self, folder: Path | None, config: CheckpointConfig):
        self.folder, self.config = folder, config
        self.saved_round: int | None = None

    def due(self, round: int, last_round: int) -> bool:
        every = self.config.every
        return round == last_round or (every > 0 and round % every == 0)

    def save(self, experiment: Any) -> None:
        """Write the experiment's state unless this round is already saved. Without a
        folder (a distributed run's other ranks) only take part in gathering the state."""
        if experiment.round != self.saved_round:
            state = experiment.state_dict()
            if self.folder is not None:
                save_checkpoint(self.folder, experiment.round, state, self.config.keep)
            self.saved_round = experiment.round


def result_fields(config: Config | dict[str, Any]) -> dict[str, Any]:
    """The config as `{dotted.key: value}` without the RESULT_NEUTRAL fields."""
    tree = config.model_dump(mode="json") if isinstance(config, Config) else config
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}{k}"
            if any(key == n or key.startswith(n + ".") for n in RESULT_NEUTRAL):
                continue
            if isinstance(v, list) and v and all(isinstance(item, dict) for item in v):
                v = {str(i): item for i, item in enumerate(v)}  # the server chain: server.1.lr
            if isinstance(v, dict):
                walk(v, key + ".")
            else:
                flat[key] = v

    walk(tree, "")
    return flat


def config_hash(config: Config | dict[str, Any]) -> str:
    """SHA-256 of the result-affecting fields: equal hashes, same computation."""
    return hashlib.sha256(json.dumps(result_fields(config), sort_keys=True).encode()).hexdigest()


def changed_fields(old: Config | dict[str, Any], new: Config | dict[str, Any]) -> list[str]:
    """`key (old -> new)` for each result-affecting field that differs."""
    a, b = result_fields(old), result_fields(new)
    return [f"{k} ({a.get(k)!r} -> {b.get(k)!r})" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
