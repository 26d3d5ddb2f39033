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


LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce, _binary_correct),  # the model outputs probabilities
    "cross_entropy": Loss(_cross_entropy, _argmax_correct),  # the model outputs logits
}
