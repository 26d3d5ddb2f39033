"""A reader for MNIST-format IDX files (plain or gzipped), with numpy only."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from fedhive.errors import UserError

_DTYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file: magic `00 00 <dtype> <ndim>`, ndim big-endian
    uint32 sizes, then the data in C order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise UserError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        raise UserError(f"{path}: IDX header says {shape} but the file has {len(raw)} bytes, not {expected}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` (uint8) as an IDX file; gzipped when the name ends in .gz."""
    path = Path(path)
    a = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + a.tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(raw)


# File-name patterns of the four files, matching MNIST, Fashion-MNIST, KMNIST and EMNIST.
PATTERNS = {
    "train_images": ("*train-images*idx3*",),
    "train_labels": ("*train-labels*idx1*",),
    "test_images": ("*t10k-images*idx3*", "*test-images*idx3*"),
    "test_labels": ("*t10k-labels*idx1*", "*test-labels*idx1*"),
}


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in `folder`, or None if any is missing."""
    if not folder.is_dir():
        return None
    found = {}
    for role, patterns in PATTERNS.items():
        matches = sorted(p for pat in patterns for p in folder.glob(pat))
        if not matches:
            return None
        found[role] = matches[0]
    return found


def load_idx_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images as float32 `[N, 1, H, W]` in [0, 1]."""
    files = find_idx_files(folder)
    if files is None:
        raise UserError(f"data.root: {folder} does not hold train-/t10k- images and labels IDX files")

    def images(p: Path) -> np.ndarray:
        a = read_idx(p)
        if a.ndim != 3:
            raise UserError(f"{p}: expected images [N, H, W], got shape {a.shape}")
        return (a.astype(np.float32) / 255.0)[:, None]

    return (images(files["train_images"]), read_idx(files["train_labels"]).astype(np.int64),
            images(files["test_images"]), read_idx(files["test_labels"]).astype(np.int64))
