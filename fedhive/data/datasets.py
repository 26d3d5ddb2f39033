"""Datasets known by name: real ones read offline from installed files, generated ones,
and a user's own file. Nothing is ever downloaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fedhive.config import DataConfig
from fedhive.data import cifar, leaf, tff
from fedhive.data.arrays import ArrayData
from fedhive.data.federated import FederatedDataset
from fedhive.data.idx import find_idx_files, load_idx_folder
from fedhive.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_HINT = "apt-get install dataset-fashion-mnist (Debian/Ubuntu)"


def fashion_mnist_folder(root: str | None) -> Path | None:
    """The first of data.root, $FEDHIVE_DATA (or their fashion-mnist/ subfolder) and the
    Debian package's folder that holds the four IDX files."""
    candidates = []
    for base in (root, os.environ.get("FEDHIVE_DATA")):
        if base:
            candidates += [Path(base), Path(base) / "fashion-mnist"]
    candidates.append(DEBIAN_FASHION_MNIST)
    return next((c for c in candidates if find_idx_files(c)), None)


def fashion_mnist(config: DataConfig, seed: int) -> ArrayData:
    """Fashion-MNIST: 60,000 + 10,000 28x28 grayscale images of 10 clothing classes (MIT)."""
    folder = fashion_mnist_folder(config.root)
    if folder is None:
        raise UserError(
            f"fashion_mnist: no IDX files in data.root, $FEDHIVE_DATA or {DEBIAN_FASHION_MNIST}; "
            f"install them with `{FASHION_MNIST_HINT}` or set data.root to a folder holding them"
        )
    x, y, x_test, y_test = load_idx_folder(folder)
    return ArrayData("fashion_mnist", x, y, 10, x_test, y_test)


def idx_folder(config: DataConfig, seed: int) -> ArrayData:
    """Any MNIST-format folder (MNIST, KMNIST, EMNIST-digits...) at data.root."""
    assert config.root is not None  # DataConfig requires root with name idx
    x, y, x_test, y_test = load_idx_folder(Path(config.root))
    return ArrayData(f"idx:{Path(config.root).name}", x, y, int(max(y.max(), y_test.max())) + 1, x_test, y_test)


def digits(config: DataConfig, seed: int) -> ArrayData:
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes, no test set
    of its own (the clients' test splits form the global one)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    return ArrayData("digits", x, bunch.target.astype(np.int64), 10)


def fedprox_synthetic(config: DataConfig, seed: int) -> ArrayData:
    """FedProx's synthetic(alpha, beta) with data.clients devices as natural groups."""
    from fedhive.data.federated_synthetic import FEDPROX_CLASSES, fedprox_synthetic as generate

    s = config.synthetic
    x, y, devices = generate(s, config.clients, seed)
    name = "synthetic_iid" if s.iid else f"synthetic({s.alpha:g},{s.beta:g})"
    return ArrayData(name, x, y, s.classes or FEDPROX_CLASSES, groups=devices, floor_train=True)


def leaf_synthetic(config: DataConfig, seed: int) -> ArrayData:
    """LEAF's synthetic dataset with data.clients devices as natural groups."""
    from fedhive.data.federated_synthetic import LEAF_CLASSES, leaf_synthetic as generate

    x, y, devices = generate(config.synthetic, config.clients, seed)
    return ArrayData("leaf_synthetic", x, y, config.synthetic.classes or LEAF_CLASSES, groups=devices,
                     floor_train=True)


def user_file(config: DataConfig, seed: int) -> ArrayData:
    """A user's .npz or .csv file at data.path."""
    from fedhive.data.user import read_file

    return read_file(config.file_path, config.label_column, config.client_column)


class Source(NamedTuple):
    kind: str  # real, generated or user
    description: str
    # ArrayData is partitioned as data.partition says; a FederatedDataset keeps its published clients.
    load: Callable[[DataConfig, int], ArrayData | FederatedDataset] | None  # None: not array-backed (reference)
    layout: str = ""  # the files expected under data.root / $FEDHIVE_DATA
    find: Callable[[str | None], Path | None] | None = None  # the folder holding them, or None


def _leaf(name: str) -> Source:
    return Source("real", leaf.SPECS[name].description, lambda config, seed: leaf.load(name, leaf.SPECS[name], config, seed),
                  f"{name}/data/{{{leaf.LAYOUT}}}", lambda root: leaf.find_folder(root, name))


def _tff(name: str, description: str) -> Source:
    return Source("real", description, lambda config, seed: tff.load(name, config, seed),
                  f"{name}/{tff.expected_files(name)}", lambda root: tff.find_folder(root, name))


def _cifar(name: str, description: str) -> Source:
    return Source("real", description, lambda config, seed: cifar.load(name, config.root),
                  cifar.expected_files(name), lambda root: cifar.find_folder(root, name))


SOURCES: dict[str, Source] = {
    "reference": Source("generated", "2-feature binary task, fresh data every round (the default)", None),
    "fedprox_synthetic": Source("generated", "FedProx's synthetic(alpha, beta) (generate_synthetic.py): 60 features, "
                                "10 classes", fedprox_synthetic),
    "leaf_synthetic": Source("generated", "LEAF's synthetic (data/synthetic/main.py): 60 features, 5 classes",
                             leaf_synthetic),
    "synthetic": Source("generated", "fedprox_synthetic, by its former name", fedprox_synthetic),
    "digits": Source("real", "scikit-learn 8x8 digits: 1,797 samples, 10 classes", digits),
    "fashion_mnist": Source("real", "Fashion-MNIST: 70,000 28x28 images, 10 classes", fashion_mnist),
    "idx": Source("real", "an MNIST-format IDX folder at data.root (MNIST, KMNIST, EMNIST...)", idx_folder),
    **{name: _leaf(name) for name in leaf.SPECS},
    "fed_emnist": _tff("fed_emnist", "TFF federated EMNIST: 28x28 characters, 62 classes, 3,400 writers (HDF5)"),
    "fed_shakespeare": _tff("fed_shakespeare", "TFF Shakespeare: next character after 80 (HDF5 snippets)"),
    "stackoverflow": _tff("stackoverflow", "TFF StackOverflow next-word prediction: 20 word ids (HDF5)"),
    "cifar10": _cifar("cifar10", "CIFAR-10 binary version: 60,000 32x32 colour images, 10 classes"),
    "cifar100": _cifar("cifar100", "CIFAR-100 binary version: 60,000 32x32 colour images, 100 fine classes"),
    "file": Source("user", "data.path: a saved FederatedDataset (.pt/.npz), an .npz of x, y or a .csv", user_file),
}


def availability(name: str, root: str | None = None) -> str:
    """Whether a dataset can be loaded here without extra settings, in a few words."""
    source = SOURCES[name]
    if source.find is not None:
        folder = source.find(root)
        return f"available ({folder})" if folder else f"missing: {source.layout} in data.root or $FEDHIVE_DATA"
    if name == "fashion_mnist":
        folder = fashion_mnist_folder(None)
        return f"available ({folder})" if folder else f"missing: {FASHION_MNIST_HINT}"
    if name == "digits":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            return "missing: pip install scikit-learn"
        return "available (scikit-learn)"
    if name == "idx":
        return "needs data.root"
    if name == "file":
        return "needs data.path"
    return "available (generated)"
