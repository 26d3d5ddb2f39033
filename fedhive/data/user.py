"""A user's own data as a FederatedDataset: numpy arrays, a torch Dataset, a CSV or an .npz."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from fedhive.data.arrays import ArrayData, from_arrays
from fedhive.data.federated import FederatedDataset
from fedhive.errors import UserError


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Integer labels as they are; anything else mapped to 0..k-1 in sorted order."""
    try:
        as_int = values.astype(np.int64)
        if np.array_equal(as_int.astype(values.dtype), values) and as_int.min() >= 0:
            return as_int, None
    except ValueError:
        pass
    names, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), [str(n) for n in names]


def read_csv(path: str | Path, label_column: str = "label", client_column: str | None = None) -> ArrayData:
    """A CSV with a header row: `label_column` holds the labels, `client_column` (optional)
    each row's client; every other column is a numeric feature."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise UserError(f"{path}: a CSV needs a header row and at least one data row")
    header, table = rows[0], np.array(rows[1:], dtype=str)
    for col in (label_column, client_column):
        if col is not None and col not in header:
            raise UserError(f"{path}: no column {col!r} (columns: {', '.join(header)})")
    features = [i for i, h in enumerate(header) if h not in (label_column, client_column)]
    try:
        x = table[:, features].astype(np.float32)
    except ValueError:
        raise UserError(f"{path}: feature columns must be numbers ({', '.join(header[i] for i in features)})") from None
    y, class_names = _codes(table[:, header.index(label_column)])
    groups = table[:, header.index(client_column)] if client_column else None
    return ArrayData(path.stem, x, y, len(class_names) if class_names else int(y.max()) + 1, groups=groups)


def read_npz(path: str | Path, client_column: str | None = None) -> ArrayData:
    """An .npz with arrays `x`, `y` and optionally `x_test`, `y_test` and a client array
    named `client_column` (default `client` when present)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("x", "y"):
        if key not in arrays:
            raise UserError(f"{path}: an .npz dataset needs arrays 'x' and 'y' (has {', '.join(arrays)})")
    group_key = client_column or ("client" if "client" in arrays else None)
    if group_key is not None and group_key not in arrays:
        raise UserError(f"{path}: no array {group_key!r} (data.client_column)")
    # Labels are cast and num_classes found by fedhive.data.validate.check_arrays.
    return ArrayData(path.stem, arrays["x"], arrays["y"], None, arrays.get("x_test"), arrays.get("y_test"),
                     arrays.get(group_key) if group_key else None)


def read_file(path: str | Path, label_column: str = "label", client_column: str | None = None) -> ArrayData:
    """data.path of `name: file`, by suffix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data.path: {path} not found")
    if path.suffix == ".csv":
        return read_csv(path, label_column, client_column)
    if path.suffix == ".npz":
        return read_npz(path, client_column)
    raise UserError(f"data.path: {path} must be a .csv, an .npz or a saved FederatedDataset (.pt)")


def from_csv(path: str | Path, label_column: str = "label", client_column: str | None = None,
             **kwargs: Any) -> FederatedDataset:
    """Federate a CSV; with a `client_column`, pass partition="natural" to keep its clients.
    Other keyword arguments are those of `from_arrays` (clients, partition, alpha, seed...)."""
    data = read_csv(path, label_column, client_column)
    return from_arrays(data.x, data.y, groups=data.groups, num_classes=data.num_classes,
                       name=kwargs.pop("name", data.name), **kwargs)


def from_torch(dataset: Any, groups: Any = None, **kwargs: Any) -> FederatedDataset:
    """Federate a map-style torch Dataset of `(x, y)` pairs (read once, in batches of 1024).
    Keyword arguments are those of `from_arrays`."""
    import torch
    from torch.utils.data import DataLoader

    xs, ys = [], []
    for batch in DataLoader(dataset, batch_size=1024, shuffle=False):
        xs.append(torch.as_tensor(batch[0]))
        ys.append(torch.as_tensor(batch[1]))
    return from_arrays(torch.cat(xs).float().numpy(), torch.cat(ys).long().numpy(), groups=groups, **kwargs)
