"""Text to token ids: LEAF's 80-character vocabulary and top-N word vocabularies."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from fedhive.errors import UserError

# LEAF's models/utils/language_utils.py ALL_LETTERS: the Shakespeare vocabulary, in its order.
LEAF_LETTERS = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"
PAD, OOV = 0, 1  # word ids 0 and 1; vocabulary words start at 2
_WORD = re.compile(r"[\w']+|[.,!?;]")  # LEAF's sent140 split_line


def char_table(letters: str, unknown: int = -1) -> np.ndarray:
    """A codepoint -> index lookup over ASCII; entry 128 (and others not in `letters`) is
    `unknown` (-1: an error)."""
    table = np.full(129, unknown, dtype=np.int64)
    table[[ord(c) for c in letters]] = np.arange(len(letters))
    return table


def char_ids(strings: Sequence[str], length: int, table: np.ndarray, where: str) -> np.ndarray:
    """`[N, length]` int32 character ids of strings that must each be `length` long."""
    if not len(strings):
        return np.zeros((0, length), dtype=np.int32)
    codes = np.asarray(strings, dtype=f"<U{length}").view(np.uint32).reshape(len(strings), length)
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    if (lengths != length).any():
        i = int(np.argmax(lengths != length))
        raise UserError(f"{where}: sample {i} has {lengths[i]} characters, expected {length}")
    ids = table[np.minimum(codes, 128)]
    if (ids < 0).any():
        bad = chr(int(codes.reshape(-1)[np.argmax(ids.reshape(-1) < 0)]))
        raise UserError(f"{where}: character {bad!r} is not in the {int((table[:128] >= 0).sum())}-symbol vocabulary")
    return ids.astype(np.int32)


def split_words(text: str) -> list[str]:
    """Words and punctuation marks, as LEAF's sent140 models split a tweet."""
    return _WORD.findall(text)


def word_vocabulary(token_lists: Iterable[Sequence[str]], size: int) -> dict[str, int]:
    """The `size` most frequent words (ties by first appearance) -> ids 2..size+1."""
    counts = Counter(w for tokens in token_lists for w in tokens)
    return {w: i + 2 for i, (w, _) in enumerate(counts.most_common(size))}


def word_ids(token_lists: Sequence[Sequence[str]], vocab: dict[str, int], length: int) -> np.ndarray:
    """`[N, length]` int32 word ids, truncated and padded with PAD; unknown words are OOV."""
    out = np.full((len(token_lists), length), PAD, dtype=np.int32)
    for i, tokens in enumerate(token_lists):
        ids = [vocab.get(w, OOV) for w in tokens[:length]]
        out[i, :len(ids)] = ids
    return out
