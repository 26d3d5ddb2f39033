"""LEAF's JSON files (train/*.json, test/*.json: users, num_samples, user_data) as federated datasets."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fedhive.config import DataConfig
from fedhive.data import text
from fedhive.data.federated import FederatedDataset
from fedhive.data.natural import Split, data_folders, from_splits
from fedhive.errors import UserError

LAYOUT = "train/*.json + test/*.json"


def _json_loads() -> Callable[[bytes], Any]:
    """orjson when installed (about twice as fast on FEMNIST's number arrays), else json."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


def _numeric_rows(x: Any, width: int, where: str) -> np.ndarray:
    try:
        rows = np.asarray(x, dtype=np.float32).reshape(len(x), -1) if len(x) else np.zeros((0, width), np.float32)
    except (TypeError, ValueError):
        rows = None
    if rows is None or rows.shape[1] != width:
        raise UserError(f"{where}: x must be rows of {width} numbers")
    return rows


def read_file(path: Path, width: int | None = None) -> tuple[list[str], list[Any], list[list]]:
    """(users, x per user, y per user) of one LEAF file, checked against num_samples.
    With `width`, "x" rows are numbers, `width` per row, returned as float32 arrays (one
    array per user, so no per-sample Python objects outlive the file)."""
    try:
        doc = _json_loads()(path.read_bytes())
    except ValueError as e:  # json's and orjson's decode errors are ValueErrors
        raise UserError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in ("users", "num_samples", "user_data") if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise UserError(f"{path}: no {missing[0]!r} key (a LEAF file holds users, num_samples, user_data)")
    users, counts, data = doc["users"], doc["num_samples"], doc["user_data"]
    if len(users) != len(counts):
        raise UserError(f"{path}: {len(users)} users but {len(counts)} num_samples")
    xs, ys = [], []
    for user, n in zip(users, counts):
        record = data.get(user)
        if not isinstance(record, dict) or "x" not in record or "y" not in record:
            raise UserError(f"{path}: user_data has no x and y for user {user!r}")
        x, y = record["x"], record["y"]
        if width:
            x = _numeric_rows(x, width, f"{path}: user {user!r}")
        if len(x) != n or len(y) != n:
            raise UserError(f"{path}: user {user!r}: num_samples says {n} but x has {len(x)} and y {len(y)}")
        xs.append(x)
        ys.append(y)
    return list(users), xs, ys


class Spec(NamedTuple):
    """How one LEAF dataset's rows become arrays."""

    description: str
    num_classes: int | None  # None: known once read (vocabulary)
    width: int | None  # numeric rows of this width, or None
    decode_x: Callable[[list, str], Any]  # the concatenated x rows of one file -> array / list
    decode_y: Callable[[list, str], np.ndarray]
    finish: Callable[[Path, DataConfig, Any, Any], tuple[np.ndarray, np.ndarray, dict]] | None = None


def read_split(folder: Path, spec: Spec) -> Split:
    """All users of `folder/*.json`, in sorted file order."""
    files = sorted(folder.glob("*.json"))
    users: list[str] = []
    sizes, xs, ys = [], [], []
    for path in files:
        u, x, y = read_file(path, spec.width)
        users += u
        sizes += [len(v) for v in y]
        rows = (np.concatenate(x) if x else np.zeros((0, spec.width), np.float32)) if spec.width \
            else list(itertools.chain(*x))
        xs.append(spec.decode_x(rows, str(path)))
        ys.append(spec.decode_y(list(itertools.chain(*y)), str(path)))
    if len(set(users)) != len(users):
        dup = next(u for i, u in enumerate(users) if u in users[:i])
        raise UserError(f"{folder}: user {dup!r} appears in more than one file")
    x = np.concatenate(xs) if isinstance(xs[0], np.ndarray) else list(itertools.chain(*xs))
    return Split(users, np.asarray(sizes, dtype=np.int64), x, np.concatenate(ys))


def find_folder(root: str | None, name: str) -> Path | None:
    """The first candidate folder holding train/*.json and test/*.json."""
    return next((f for f in data_folders(root, name)
                 if any((f / "train").glob("*.json")) and any((f / "test").glob("*.json"))), None)


def load(name: str, spec: Spec, config: DataConfig, seed: int) -> FederatedDataset:
    """The LEAF dataset `name` from data.root / $FEDHIVE_DATA, one client per LEAF user."""
    folder = find_folder(config.root, name)
    if folder is None:
        raise UserError(f"{name}: no LEAF files ({LAYOUT}) in data.root, its {name}/ or {name}/data/ "
                        "subfolder, or $FEDHIVE_DATA")
    train, test = read_split(folder / "train", spec), read_split(folder / "test", spec)
    train_x, test_x, info = (train.x, test.x, {}) if spec.finish is None else \
        spec.finish(folder, config, train.x, test.x)
    num_classes = info.pop("num_classes", spec.num_classes)
    return from_splits(config, seed, name, train._replace(x=train_x), test._replace(x=test_x),
                       num_classes, {**info, "folder": str(folder)})


def labels(num_classes: int) -> Callable[[list, str], np.ndarray]:
    """Integer labels in [0, num_classes)."""
    def decode(values: list, where: str) -> np.ndarray:
        try:
            y = np.asarray([int(v) for v in values], dtype=np.int64)
        except (TypeError, ValueError):
            raise UserError(f"{where}: y must hold integer labels") from None
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise UserError(f"{where}: label {int(y.max() if y.max() >= num_classes else y.min())} "
                            f"outside 0..{num_classes - 1}")
        return y
    return decode


_LETTERS = text.char_table(text.LEAF_LETTERS)
SEQUENCE = 80  # LEAF's Shakespeare input length


def _strings(values: list, where: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise UserError(f"{where}: x and y must hold strings")
    return values


def _tweets(rows: list, where: str) -> list[list[str]]:
    """LEAF sent140 rows [id, date, query, user, text] -> the text's words."""
    if not all(isinstance(r, list) and len(r) >= 5 and isinstance(r[4], str) for r in rows):
        raise UserError(f"{where}: sent140 x rows must be [id, date, query, user, text]")
    return [text.split_words(r[4]) for r in rows]


def _sent140_ids(folder: Path, config: DataConfig, train: list, test: list) -> tuple[np.ndarray, np.ndarray, dict]:
    vocab = text.word_vocabulary(train, config.vocab_size)
    return (text.word_ids(train, vocab, SENT140_WORDS), text.word_ids(test, vocab, SENT140_WORDS),
            {"num_classes": 2, "vocabulary": len(vocab) + 2})


SENT140_WORDS = 25  # LEAF's sent140 max_words
CELEBA_SIZE = 84  # LEAF's celeba IMAGE_SIZE


def celeba_images(folder: Path) -> Path | None:
    """LEAF's celeba image folder next to train/ and test/, if present."""
    return next((f for f in (folder / "raw" / "img_align_celeba", folder / "img_align_celeba") if f.is_dir()), None)


def _celeba_pixels(folder: Path, config: DataConfig, train: list, test: list) -> tuple[np.ndarray, np.ndarray, dict]:
    from PIL import Image

    images = celeba_images(folder)
    if images is None:
        raise UserError(f"celeba: image folder {folder / 'raw' / 'img_align_celeba'} not found; LEAF's JSON "
                        "names images, put img_align_celeba/ there")

    def read(names: list[str]) -> np.ndarray:
        out = np.zeros((len(names), 3, CELEBA_SIZE, CELEBA_SIZE), dtype=np.float32)
        for i, name in enumerate(names):
            path = images / name
            if not path.is_file():
                raise UserError(f"celeba: image {path} not found")
            with Image.open(path) as im:
                rgb = im.convert("RGB").resize((CELEBA_SIZE, CELEBA_SIZE))
            out[i] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return out

    return read(train), read(test), {"images": str(images)}


SPECS: dict[str, Spec] = {
    "femnist": Spec("LEAF FEMNIST: 28x28 handwritten characters, 62 classes, one client per writer", 62, 784,
                    lambda rows, where: rows.reshape(-1, 1, 28, 28), labels(62)),
    "shakespeare": Spec("LEAF Shakespeare: next character after 80, 80 symbols, one client per role", 80, None,
                        lambda rows, where: text.char_ids(_strings(rows, where), SEQUENCE, _LETTERS, where),
                        lambda rows, where: text.char_ids(_strings(rows, where), 1, _LETTERS, where)[:, 0]),
    "sent140": Spec("LEAF Sent140: tweet sentiment, 25 word ids (top data.vocab_size words), 2 classes", None,
                    None, _tweets, labels(2), _sent140_ids),
    "celeba": Spec("LEAF CelebA: 84x84 faces, smiling or not, one client per celebrity (needs the images)", 2,
                   None, _strings, labels(2), _celeba_pixels),
}
