"""One validation step for a dataset before anything runs: each problem is a one-line
UserError naming the source (file) and what is wrong; nothing is silently changed."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from fedhive.errors import FedhiveWarning, UserError


def check_arrays(data: Any, source: str, drop_nonfinite: bool = False) -> Any:
    """`data` (an ArrayData, `num_classes` may be None: max label + 1) checked: as many
    labels (and groups) as samples, a test set with the training feature shape, integer
    labels in [0, num_classes), finite features. With `drop_nonfinite`, rows with NaN/Inf
    features are dropped with a warning giving the count, instead of an error."""
    x, y = np.asarray(data.x), _labels(data.y, source, "y")
    if x.ndim == 0 or len(x) == 0:
        raise UserError(f"{source}: the dataset has no samples")
    _same_length(x, y, source, "x", "y")
    groups = None if data.groups is None else np.asarray(data.groups)
    if groups is not None:
        _same_length(x, groups, source, "x", "the client column")
    x_test, y_test = data.x_test, data.y_test
    if (x_test is None) != (y_test is None):
        raise UserError(f"{source}: a test set needs both x_test and y_test")
    if x_test is not None:
        x_test, y_test = np.asarray(x_test), _labels(y_test, source, "y_test")
        _same_length(x_test, y_test, source, "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise UserError(f"{source}: x_test has feature shape {x_test.shape[1:]}, x has {x.shape[1:]}")
        _finite(x_test, source, "x_test", drop=False)
    k = data.num_classes or int(max(y.max(), -1 if y_test is None else y_test.max())) + 1
    for name, labels in (("y", y), ("y_test", y_test)):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= k):
            raise UserError(f"{source}: labels in {name} must be in [0, {k}) for {k} classes; "
                            f"found {labels.min()}..{labels.max()}")
    keep = _finite(x, source, "x", drop=drop_nonfinite)
    if keep is not None:
        if not keep.any():
            raise UserError(f"{source}: every row of x holds NaN or Inf features")
        x, y, groups = x[keep], y[keep], None if groups is None else groups[keep]
    return data._replace(x=x, y=y, num_classes=k, x_test=x_test, y_test=y_test, groups=groups)


def check_packed(packed: Any, num_classes: int, source: str, what: str) -> None:
    """A saved dataset's packed split: offsets from 0, never decreasing, covering every
    row; one label per row, in [0, num_classes); finite features."""
    offsets = packed.offsets
    if offsets.dim() != 1 or len(offsets) < 2 or int(offsets[0]) != 0 or bool((offsets.diff() < 0).any()):
        raise UserError(f"{source}: {what} offsets must start at 0 and never decrease")
    if int(offsets[-1]) != len(packed.x):
        raise UserError(f"{source}: {what} offsets cover {int(offsets[-1])} rows, the data has {len(packed.x)}")
    _same_length(packed.x, packed.y, source, f"{what} x", f"{what} y")
    if len(packed.y) and (int(packed.y.min()) < 0 or int(packed.y.max()) >= num_classes):
        raise UserError(f"{source}: {what} labels must be in [0, {num_classes}); "
                        f"found {int(packed.y.min())}..{int(packed.y.max())}")
    if packed.x.is_floating_point() and not bool(torch.isfinite(packed.x).all()):
        raise UserError(f"{source}: {what} features hold NaN or Inf")


def warn_empty_clients(sizes: Any, source: str) -> None:
    """A warning with the count of clients that hold no training sample."""
    empty = int((np.asarray(sizes) == 0).sum())
    if empty:
        warnings.warn(f"{source}: {empty} of {len(sizes)} clients hold no training samples", FedhiveWarning)


def _labels(y: Any, source: str, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"{source}: {name} must be one label per sample (shape [N]), got shape {y.shape}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise UserError(f"{source}: {name} must hold integer labels (found non-integer or NaN values)")
    if y.dtype.kind not in "iuf":
        raise UserError(f"{source}: {name} must hold integer labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def _same_length(a: Any, b: Any, source: str, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise UserError(f"{source}: {name_a} has {len(a)} samples but {name_b} has {len(b)}")


def _finite(x: np.ndarray, source: str, name: str, drop: bool) -> np.ndarray | None:
    """None if every feature is finite; else the rows to keep (`drop`) or a UserError."""
    if x.dtype.kind not in "fc":
        return None
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not bad.any():
        return None
    if not drop:
        raise UserError(f"{source}: {int(bad.sum())} rows of {name} hold NaN or Inf features "
                        "(data.drop_nonfinite: true drops them)")
    warnings.warn(f"{source}: dropped {int(bad.sum())} of {len(x)} rows with NaN or Inf features "
                  "(data.drop_nonfinite)", FedhiveWarning)
    return ~bad
