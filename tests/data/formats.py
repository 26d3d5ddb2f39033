"""Tiny files in the published formats (LEAF JSON, TFF HDF5, CIFAR binary), written by tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LETTERS = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"


def write_leaf_file(path: Path, user_data: dict[str, dict]) -> None:
    """One LEAF JSON file as LEAF's scripts write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"users": list(user_data), "num_samples": [len(d["y"]) for d in user_data.values()],
           "user_data": user_data}
    path.write_text(json.dumps(doc))


def femnist_users(sizes: list[int], seed: int) -> dict[str, dict]:
    g = np.random.default_rng(seed)
    return {f"f{i:04d}_{seed}": {"x": g.random((n, 784)).round(4).tolist(), "y": g.integers(0, 62, n).tolist()}
            for i, n in enumerate(sizes)}


def shakespeare_users(sizes: list[int], seed: int) -> dict[str, dict]:
    g = np.random.default_rng(seed)
    pick = lambda n: "".join(g.choice(list(LETTERS), n))  # noqa: E731
    return {f"ROLE_{i}": {"x": [pick(80) for _ in range(n)], "y": [pick(1) for _ in range(n)]}
            for i, n in enumerate(sizes)}


def sent140_users(sizes: list[int], seed: int) -> dict[str, dict]:
    g = np.random.default_rng(seed)
    words = ["good", "bad", "day", "sad", "happy", "the", "a", "!"]
    tweet = lambda: " ".join(g.choice(words, 6))  # noqa: E731
    return {f"user{i}": {"x": [["1", "Mon Apr 06", "NO_QUERY", f"user{i}", tweet()] for _ in range(n)],
                         "y": g.integers(0, 2, n).tolist()} for i, n in enumerate(sizes)}


def write_leaf(root: Path, name: str, make, sizes: list[int]) -> Path:
    """LEAF's layout root/name/data/{train,test}/*.json: each user's samples split 3:1 by sample."""
    folder = root / name / "data"
    users = make([n + max(1, n // 3) for n in sizes], seed=len(sizes))
    train = {u: {k: v[:n] for k, v in d.items()} for (u, d), n in zip(users.items(), sizes)}
    test = {u: {k: v[n:] for k, v in d.items()} for (u, d), n in zip(users.items(), sizes)}
    write_leaf_file(folder / "train" / "all_data_0_train.json", train)
    write_leaf_file(folder / "test" / "all_data_0_test.json", test)
    return folder


def write_h5(path: Path, clients: dict[str, dict[str, np.ndarray]]) -> None:
    """A TFF HDF5 file: examples/<client>/<field>."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for client, fields in clients.items():
            for k, v in fields.items():
                f.create_dataset(f"examples/{client}/{k}", data=v)


def write_tff(root: Path, name: str, sizes: list[int], seed: int = 0) -> Path:
    """fed_emnist, fed_shakespeare or stackoverflow train/test files with `sizes` training
    examples per client (and half as many, at least 1, for test)."""
    g = np.random.default_rng(seed)
    folder = root / name
    files = {"fed_emnist": "fed_emnist", "fed_shakespeare": "shakespeare", "stackoverflow": "stackoverflow"}[name]
    for split, scale in (("train", 1.0), ("test", 0.5)):
        clients = {}
        for i, n in enumerate(sizes):
            n = max(1, int(n * scale))
            if name == "fed_emnist":
                clients[f"f{i:04d}"] = {"pixels": g.random((n, 28, 28), dtype=np.float32),
                                        "label": g.integers(0, 62, n).astype(np.int32)}
            elif name == "fed_shakespeare":
                clients[f"ROLE{i}"] = {"snippets": np.array(["".join(g.choice(list("abc de\n"), 90))
                                                             .encode() for _ in range(n)], dtype=object)}
            else:
                words = ["how", "do", "i", "sort", "a", "list", "in", "python", "?"]
                clients[f"{i:08d}"] = {"tokens": np.array([" ".join(g.choice(words, g.integers(3, 25))).encode()
                                                           for _ in range(n)], dtype=object)}
        write_h5(folder / f"{files}_{split}.h5", clients)
    return folder


def write_cifar10(root: Path, per_file: int = 6, seed: int = 0) -> Path:
    """cifar-10-batches-bin with `per_file` records in each of the six files."""
    g = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = g.integers(0, 10, (per_file, 1), dtype=np.uint8)
        pixels = g.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    return folder
