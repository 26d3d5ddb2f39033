"""Datasets published already split by client (LEAF users, TFF clients): packing and placement."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from fedhive.config import DataConfig
from fedhive.data.federated import FederatedDataset, Packed
from fedhive.errors import UserError


def data_folders(root: str | None, name: str) -> list[Path]:
    """Where a dataset's files may lie: data.root and $FEDHIVE_DATA, each itself, its `name/`
    and its `name/data/` (LEAF's own layout) subfolders."""
    out = []
    for base in (root, os.environ.get("FEDHIVE_DATA")):
        if base:
            out += [Path(base), Path(base) / name, Path(base) / name / "data"]
    return out


class Split(NamedTuple):
    """One side (train or test) of a published split: rows grouped by client, in file order."""

    users: list[str]
    sizes: np.ndarray  # [U] int64
    x: Any  # an array of rows, or a list the source turns into one (words, image names)
    y: np.ndarray  # [N] (or [N, T] for sequences) int64


def align(test: Split, users: list[str]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row indices of `test` grouped in `users`' order, their per-user counts, and whether
    every test user is one of `users` (a split by sample) or not (a split by user)."""
    position = {u: i for i, u in enumerate(users)}
    owner = np.repeat(np.array([position.get(u, -1) for u in test.users], dtype=np.int64), test.sizes)
    keep = np.flatnonzero(owner >= 0)
    rows = keep[np.argsort(owner[keep], kind="stable")]
    return rows, np.bincount(owner[keep], minlength=len(users)), len(keep) == len(owner)


def _offsets(sizes: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


def pack_users(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """One tensor of the users' rows, in order, and their `[C + 1]` offsets."""
    sizes = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    return torch.from_numpy(np.concatenate(arrays) if len(arrays) else np.zeros(0)), _offsets(sizes)


def from_splits(config: DataConfig, seed: int, name: str, train: Split, test: Split, num_classes: int,
                info: dict[str, Any] | None = None) -> FederatedDataset:
    """One client per training user (those with samples), its test rows from `test`; when
    `test` has users of its own, all its rows are the global test set."""
    keep = np.flatnonzero(train.sizes > 0)
    if len(keep) < len(train.users):
        rows = np.repeat(train.sizes > 0, train.sizes)
        train = Split([train.users[i] for i in keep], train.sizes[keep], train.x[rows], train.y[rows])
    rows, counts, same_users = align(test, train.users)
    train_packed = Packed(torch.as_tensor(train.x), torch.as_tensor(train.y).long(), _offsets(train.sizes))
    client_test = Packed(torch.as_tensor(test.x[rows]), torch.as_tensor(test.y[rows]).long(), _offsets(counts))
    global_test = None if same_users else (torch.as_tensor(test.x), torch.as_tensor(test.y).long())
    return natural_dataset(config, seed, name, train.users, train_packed, client_test, num_classes, info,
                           global_test)


def check_natural_config(config: DataConfig, source: str, num_clients: int) -> None:
    """A natural split fixes the clients: refuse settings that say otherwise."""
    if "partition" in config.model_fields_set and config.partition.name != "natural":
        raise UserError(f"data.partition: {source} keeps its published clients; use name: natural or leave it out")
    if "clients" in config.model_fields_set and config.clients != num_clients:
        raise UserError(f"data.clients: {source}'s files hold {num_clients} clients; "
                        f"set data.clients: {num_clients} or leave it out")


def natural_dataset(config: DataConfig, seed: int, name: str, users: list[str], train: Packed,
                    test: Packed, num_classes: int, info: dict[str, Any] | None = None,
                    global_test: tuple[torch.Tensor, torch.Tensor] | None = None) -> FederatedDataset:
    """A FederatedDataset whose client i is `users[i]`, with its published test split."""
    check_natural_config(config, name, len(users))
    if len(train.y) == 0:
        raise UserError(f"{name}: the training files hold no samples")
    meta = {"source": name, "partition": {"name": "natural"}, "clients": len(users), **(info or {})}
    return FederatedDataset(train, num_classes, test, global_test, config.batch_size, seed, name, meta)
