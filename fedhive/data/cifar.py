"""CIFAR-10/100's binary version: fixed-size records of label byte(s) then 3,072 pixel bytes."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from fedhive.data.arrays import ArrayData
from fedhive.data.natural import data_folders
from fedhive.errors import UserError

PIXELS = 3 * 32 * 32


class Layout(NamedTuple):
    subfolder: str  # the folder the archive unpacks to
    train: tuple[str, ...]
    test: str
    label_bytes: int  # CIFAR-100: coarse then fine label
    num_classes: int
    pickled: str  # a file of the python (pickled) version, refused
    archive: str


LAYOUTS = {
    "cifar10": Layout("cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin",
                      1, 10, "data_batch_1", "cifar-10-binary.tar.gz"),
    "cifar100": Layout("cifar-100-binary", ("train.bin",), "test.bin", 2, 100, "train", "cifar-100-binary.tar.gz"),
}


def expected_files(name: str) -> str:
    layout = LAYOUTS[name]
    return f"{layout.subfolder}/{{{', '.join(layout.train)}, {layout.test}}}"


def read_records(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 `[N, 3, 32, 32]`, labels uint8 `[N, label_bytes]`) of one binary file."""
    raw = np.fromfile(path, dtype=np.uint8)
    size = label_bytes + PIXELS
    if raw.size == 0 or raw.size % size:
        raise UserError(f"{path}: {raw.size} bytes is not a whole number of {size}-byte records (truncated?)")
    records = raw.reshape(-1, size)
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), records[:, :label_bytes]


def find_folder(root: str | None, name: str) -> Path | None:
    layout = LAYOUTS[name]
    folders = [f for base in data_folders(root, name) for f in (base, base / layout.subfolder)]
    return next((f for f in folders if all((f / n).is_file() for n in (*layout.train, layout.test))), None)


def _refuse_pickled(root: str | None, name: str) -> None:
    layout = LAYOUTS[name]
    python_folder = layout.subfolder.replace("-bin", "-py").replace("-binary", "-python")
    for base in data_folders(root, name):
        for folder in (base, base / python_folder):
            if (folder / layout.pickled).is_file():
                raise UserError(f"{name}: {folder} holds CIFAR's pickled python version, which fedhive does not "
                                f"unpickle; use the binary version ({layout.archive}): {expected_files(name)}")


def load(name: str, root: str | None) -> ArrayData:
    """CIFAR-10 or CIFAR-100 (fine labels) as float32 images in [0, 1] with the official test set."""
    folder = find_folder(root, name)
    if folder is None:
        _refuse_pickled(root, name)
        raise UserError(f"{name}: no binary CIFAR files ({expected_files(name)}) in data.root or $FEDHIVE_DATA")
    layout = LAYOUTS[name]
    parts = [read_records(folder / n, layout.label_bytes) for n in layout.train]
    x_test, y_test = read_records(folder / layout.test, layout.label_bytes)

    def scaled(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32) / 255.0

    y = np.concatenate([p[1][:, -1] for p in parts]).astype(np.int64)  # the fine label is the last byte
    if max(y.max(), y_test[:, -1].max()) >= layout.num_classes:
        raise UserError(f"{folder}: a label byte is {int(max(y.max(), y_test[:, -1].max()))}, "
                        f"outside 0..{layout.num_classes - 1}")
    return ArrayData(name, scaled(np.concatenate([p[0] for p in parts])), y, layout.num_classes,
                     scaled(x_test), y_test[:, -1].astype(np.int64))
