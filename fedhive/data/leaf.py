"""LEAF's JSON files (train/*.json, test/*.json: users, num_samples, user_data) as federated datasets."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from fedhive.config import DataConfig
from fedhive.data import parsed_cache, text
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


def _numeric_parser() -> Callable[[bytes], Any] | None:
    """pysimdjson's parse when installed: a document whose number arrays are copied into
    numpy in C, never made into Python floats (FEMNIST holds 627 million of them)."""
    try:
        import simdjson
    except ImportError:
        return None
    return lambda raw: simdjson.Parser().parse(raw)  # a parser per file: a document pins its parser


def _plain(value: Any) -> Any:
    """A simdjson array as a Python list; anything else as it is."""
    return value.as_list() if hasattr(value, "as_buffer") else value


def _is_object(value: Any) -> bool:
    """A JSON object: a dict, or a simdjson object."""
    return isinstance(value, dict) or hasattr(value, "as_dict")


def _fill_rows(out: np.ndarray, x: Any, where: str) -> None:
    """Copy one user's `x` (rows of numbers) into `out` `[n, width]`, refusing other shapes."""
    rows = _simdjson_rows(x, out.shape) if hasattr(x, "as_buffer") else _list_rows(x)
    if rows is None or (len(out) and rows.shape != out.shape):
        raise UserError(f"{where}: x must be rows of {out.shape[1]} numbers")
    out[...] = rows.reshape(out.shape)


def _list_rows(x: Any) -> np.ndarray | None:
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        return None


def _simdjson_rows(x: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """The rows of a simdjson array as `shape` float64, or None when they are not rows of
    that many numbers (as_buffer flattens nested arrays, so the rows are counted first)."""
    if len(x) != shape[0] or not all(hasattr(r, "as_buffer") and len(r) == shape[1] for r in x):
        return None
    try:
        flat = np.frombuffer(x.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError):  # a string, bool or null among the numbers
        return None
    return flat.reshape(shape) if flat.size == shape[0] * shape[1] else None


def _parse(path: Path, numeric: bool) -> Any:
    raw = path.read_bytes()
    simdjson_parse = _numeric_parser() if numeric else None
    try:
        return simdjson_parse(raw) if simdjson_parse else _json_loads()(raw)
    except ValueError as e:  # json's, orjson's and simdjson's decode errors are ValueErrors
        raise UserError(f"{path}: not valid JSON ({e})") from None


def read_file(path: Path, width: int | None = None) -> tuple[list[str], np.ndarray, Any, list]:
    """(users, samples per user, x rows, y values) of one LEAF file, checked against
    num_samples; x and y are the users' rows concatenated in file order. With `width`, x
    is one float32 array `[N, width]` filled user by user, so no per-sample Python objects
    outlive the file and no per-user arrays are joined afterwards (with pysimdjson, none
    are made at all)."""
    doc = _parse(path, width is not None)
    missing = [k for k in ("users", "num_samples", "user_data") if not _is_object(doc) or k not in doc]
    if missing:
        raise UserError(f"{path}: no {missing[0]!r} key (a LEAF file holds users, num_samples, user_data)")
    users, counts, data = _plain(doc["users"]), _plain(doc["num_samples"]), doc["user_data"]
    if len(users) != len(counts):
        raise UserError(f"{path}: {len(users)} users but {len(counts)} num_samples")
    records = [_record(data, user, n, path) for user, n in zip(users, counts)]
    sizes = np.fromiter((len(r["y"]) for r in records), dtype=np.int64, count=len(records))
    if width:
        x: Any = np.empty((int(sizes.sum()), width), dtype=np.float32)
        for user, r, start, n in zip(users, records, np.cumsum(sizes) - sizes, sizes):
            _fill_rows(x[start:start + n], r["x"], f"{path}: user {user!r}")
    else:
        x = list(itertools.chain.from_iterable(r["x"] for r in records))
    return list(users), sizes, x, list(itertools.chain.from_iterable(_plain(r["y"]) for r in records))


def _record(data: Any, user: str, n: Any, path: Path) -> Any:
    record: Any = data.get(user) if _is_object(data) else None
    if not _is_object(record) or "x" not in record or "y" not in record:
        raise UserError(f"{path}: user_data has no x and y for user {user!r}")
    if len(record["x"]) != n or len(record["y"]) != n:
        raise UserError(f"{path}: user {user!r}: num_samples says {n} but x has {len(record['x'])} "
                        f"and y {len(record['y'])}")
    return record


class Spec(NamedTuple):
    """How one LEAF dataset's rows become arrays."""

    description: str
    num_classes: int | None  # None: known once read (vocabulary)
    width: int | None  # numeric rows of this width, or None
    decode_x: Callable[[Any, str], Any]  # the concatenated x rows of one file (an array with width) -> array / list
    decode_y: Callable[[list, str], np.ndarray]
    finish: Callable[[Path, DataConfig, Any, Any], tuple[np.ndarray, np.ndarray, dict]] | None = None


def read_split(folder: Path, spec: Spec) -> Split:
    """All users of `folder/*.json`, in sorted file order."""
    users: list[str] = []
    sizes, xs, ys = [], [], []
    for path in sorted(folder.glob("*.json")):
        u, n, x, y = read_file(path, spec.width)
        users += u
        sizes.append(n)
        xs.append(spec.decode_x(x, str(path)))
        ys.append(spec.decode_y(y, str(path)))
    if len(set(users)) != len(users):
        dup = next(u for i, u in enumerate(users) if u in users[:i])
        raise UserError(f"{folder}: user {dup!r} appears in more than one file")
    x = join_arrays(xs) if isinstance(xs[0], np.ndarray) else list(itertools.chain(*xs))
    return Split(users, np.concatenate(sizes), x, np.concatenate(ys))


def join_arrays(parts: list[np.ndarray]) -> np.ndarray:
    """np.concatenate that releases each part once copied (`parts` is emptied), so the peak
    is the result plus one part, not twice the result."""
    out = np.empty((sum(len(p) for p in parts), *parts[0].shape[1:]), dtype=parts[0].dtype)
    start = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        out[start:start + len(part)] = part
        start += len(part)
    return out


CACHE = "fedhive-parsed.pt"  # beside train/ and test/; safe to delete


def read_splits(folder: Path, spec: Spec) -> tuple[Split, Split]:
    """The train and test splits; a dataset whose rows are arrays (no `finish` step) is
    parsed once and kept in `CACHE`, reused while no JSON file changes."""
    if spec.finish is not None:
        return read_split(folder / "train", spec), read_split(folder / "test", spec)

    def build() -> dict[str, Any]:
        return {side: _tensors(read_split(folder / side, spec)) for side in ("train", "test")}

    files = sorted(folder.glob("train/*.json")) + sorted(folder.glob("test/*.json"))
    value = parsed_cache.cached(folder / CACHE, parsed_cache.source_key(files, spec.description), build)
    train, test = (Split(v["users"], v["sizes"].numpy(), v["x"].numpy(), v["y"].numpy())
                   for v in (value["train"], value["test"]))
    return train, test


def _tensors(split: Split) -> dict[str, Any]:
    return {"users": split.users, "sizes": torch.from_numpy(split.sizes), "x": torch.from_numpy(split.x),
            "y": torch.from_numpy(split.y)}


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
    train, test = read_splits(folder, spec)
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
