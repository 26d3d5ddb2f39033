"""Per-sample losses and correctness, so padded samples can be masked out."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


class Loss(NamedTuple):
    """`per_sample(out, y) -> [N]` losses and `correct(out, y) -> [N]` 0/1 hits."""

    per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    correct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(p, y.to(p.dtype), reduction="none")


def _binary_correct(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((p > 0.5).to(y.dtype) == y).to(p.dtype)


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y.long(), reduction="none")


def _argmax_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == y.long()).to(logits.dtype)


def _tokens(y: torch.Tensor) -> torch.Tensor:
    """1 for real target tokens, 0 for padding (id 0), `[N, T]`."""
    return (y > 0).float()


def _sequence_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sequence's mean cross-entropy over its real tokens: logits `[N, T, V]`, y `[N, T]`."""
    per_token = F.cross_entropy(logits.flatten(0, 1), y.flatten().long(), reduction="none").view(y.shape)
    tokens = _tokens(y).to(per_token.dtype)
    return (per_token * tokens).sum(-1) / tokens.sum(-1).clamp_min(1.0)


def _sequence_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sequence's share of real tokens predicted exactly."""
    tokens = _tokens(y).to(logits.dtype)
    return ((logits.argmax(-1) == y.long()).to(logits.dtype) * tokens).sum(-1) / tokens.sum(-1).clamp_min(1.0)


LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce, _binary_correct),  # the model outputs probabilities
    "cross_entropy": Loss(_cross_entropy, _argmax_correct),  # the model outputs logits
    # next-token prediction: logits [N, T, V] per step, y [N, T] with 0 as padding
    "sequence_cross_entropy": Loss(_sequence_cross_entropy, _sequence_correct),
}
