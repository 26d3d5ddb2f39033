"""TFF / FedJAX HDF5 files (examples/<client>/<field>) read with h5py: EMNIST, Shakespeare, StackOverflow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fedhive.config import DataConfig
from fedhive.data import text
from fedhive.data.federated import FederatedDataset
from fedhive.data.natural import Split, data_folders, from_splits
from fedhive.errors import UserError

# TFF's shakespeare CHAR_VOCAB (86 characters); other characters map to one out-of-vocabulary id.
TFF_CHARS = list("dhlptx@DHLPTX $(,048cgkoswCGKOSW[_#'/37;?bfjnrvzBFJNRVZ\"&*.26:\naeimquyAEIMQUY]!%)-159\r")
WINDOW = 80  # characters before the predicted one, as LEAF's Shakespeare
WORDS = 20  # TFF's StackOverflow next-word sequence length
WORD_COUNTS = "stackoverflow.word_count"  # TFF's vocabulary file: "word count" lines, most frequent first


class Files(NamedTuple):
    train: str
    test: str
    fields: tuple[str, ...]


FILES = {
    "fed_emnist": Files("fed_emnist_train.h5", "fed_emnist_test.h5", ("pixels", "label")),
    "fed_shakespeare": Files("shakespeare_train.h5", "shakespeare_test.h5", ("snippets",)),
    "stackoverflow": Files("stackoverflow_train.h5", "stackoverflow_test.h5", ("tokens",)),
}


def expected_files(name: str) -> str:
    files = FILES[name]
    return f"{files.train} + {files.test} (examples/<client>/{'|'.join(files.fields)})"


def find_folder(root: str | None, name: str) -> Path | None:
    files = FILES[name]
    return next((f for f in data_folders(root, name) if (f / files.train).is_file() and (f / files.test).is_file()),
                None)


def read_clients(path: Path, fields: tuple[str, ...]) -> tuple[list[str], dict[str, list[np.ndarray]]]:
    """Each client's arrays of `fields`, clients in the file's (sorted) order."""
    try:
        import h5py
    except ImportError:
        raise UserError(f"{path.name}: reading TFF's HDF5 files needs h5py: pip install 'fedhive[datasets]'") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"{path}: not a readable HDF5 file ({e})") from None
    with handle as f:
        if "examples" not in f:
            raise UserError(f"{path}: no 'examples' group (TFF files hold examples/<client>/<field>)")
        columns: dict[str, list[np.ndarray]]
        clients, columns = list(f["examples"]), {k: [] for k in fields}
        for client in clients:
            group = f["examples"][client]
            for k in fields:
                if k not in group:
                    raise UserError(f"{path}: client {client!r} has no {k!r}")
                columns[k].append(group[k][()])
            lengths = {len(columns[k][-1]) for k in fields}
            if len(lengths) > 1:
                raise UserError(f"{path}: client {client!r}: {' and '.join(fields)} have different lengths")
    return clients, columns


def _strings(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _emnist(clients: list[str], columns: dict[str, list[np.ndarray]], path: Path) -> Split:
    pixels, labels = columns["pixels"], columns["label"]
    x = np.concatenate(pixels).astype(np.float32).reshape(-1, 1, 28, 28) if pixels else np.zeros((0, 1, 28, 28))
    return Split(clients, np.array([len(p) for p in pixels], dtype=np.int64), x,
                 np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64))


_TFF_TABLE = text.char_table("".join(TFF_CHARS), unknown=len(TFF_CHARS))


def _shakespeare(clients: list[str], columns: dict[str, list[np.ndarray]], path: Path) -> Split:
    """Every window of 81 characters of every snippet: 80 inputs, the next one the label."""
    xs, sizes = [], []
    for snippets in columns["snippets"]:
        windows = [np.lib.stride_tricks.sliding_window_view(ids, WINDOW + 1)
                   for s in _strings(snippets) if len(s) > WINDOW
                   for ids in [text.char_ids([s], len(s), _TFF_TABLE, str(path))[0]]]
        xs.append(np.concatenate(windows) if windows else np.zeros((0, WINDOW + 1), np.int32))
        sizes.append(len(xs[-1]))
    rows = np.concatenate(xs) if xs else np.zeros((0, WINDOW + 1), np.int32)
    return Split(clients, np.asarray(sizes, np.int64), np.ascontiguousarray(rows[:, :WINDOW]), rows[:, WINDOW].astype(np.int64))


def _vocabulary(folder: Path, columns: dict[str, list[np.ndarray]], size: int) -> dict[str, int]:
    """The `size` most frequent words: from TFF's word-count file when present, else counted
    in the training sentences. Ids 2..size+1, then <bos> and <eos>."""
    counts = folder / WORD_COUNTS
    if counts.is_file():
        words = [line.split()[0] for line in counts.read_text(encoding="utf-8").splitlines()[:size] if line.strip()]
    else:
        counter = Counter(w for sentences in columns["tokens"] for s in _strings(sentences) for w in s.split())
        words = [w for w, _ in counter.most_common(size)]
    vocab = {w: i + 2 for i, w in enumerate(words)}
    return {**vocab, "<bos>": len(vocab) + 2, "<eos>": len(vocab) + 3}


def _stackoverflow(clients: list[str], columns: dict[str, list[np.ndarray]], path: Path,
                   vocab: dict[str, int]) -> Split:
    """[<bos>, w1..] -> [w1.., <eos>], 20 word ids each, padded with 0 (masked in the loss)."""
    sentences = [s for client in columns["tokens"] for s in _strings(client)]
    ids = text.word_ids([["<bos>", *s.split(), "<eos>"] for s in sentences], vocab, WORDS + 1)
    return Split(clients, np.array([len(c) for c in columns["tokens"]], dtype=np.int64),
                 np.ascontiguousarray(ids[:, :WORDS]), ids[:, 1:].astype(np.int64))


def load(name: str, config: DataConfig, seed: int) -> FederatedDataset:
    """A TFF dataset from data.root / $FEDHIVE_DATA, one client per TFF client id."""
    folder = find_folder(config.root, name)
    if folder is None:
        raise UserError(f"{name}: no {expected_files(name)} in data.root, its {name}/ subfolder or $FEDHIVE_DATA")
    files = FILES[name]
    train_raw = read_clients(folder / files.train, files.fields)
    test_raw = read_clients(folder / files.test, files.fields)
    info: dict[str, Any] = {"folder": str(folder)}
    decode: Callable[[list[str], dict[str, list[np.ndarray]], Path], Split]
    if name == "fed_emnist":
        decode, num_classes = _emnist, 62
    elif name == "fed_shakespeare":
        decode, num_classes = _shakespeare, len(TFF_CHARS) + 1
    else:
        vocab = _vocabulary(folder, train_raw[1], config.vocab_size)
        decode, num_classes = partial(_stackoverflow, vocab=vocab), max(vocab.values()) + 1
        info["vocabulary"] = num_classes
    train = decode(*train_raw, folder / files.train)
    test = decode(*test_raw, folder / files.test)
    if name == "fed_emnist" and max(train.y.max(initial=0), test.y.max(initial=0)) >= num_classes:
        raise UserError(f"{folder / files.train}: a label is outside 0..{num_classes - 1}")
    return from_splits(config, seed, name, train, test, num_classes, info)
