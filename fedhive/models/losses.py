"""Per-sample losses and correctness, so padded samples can be masked out; and the same
losses from the pre-activation values when a model ends in the loss's own squashing."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class Loss(NamedTuple):
    """`per_sample(out, y) -> [N]` losses and `correct(out, y) -> [N]` 0/1 hits."""

    per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    correct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(p, y.to(p.dtype), reduction="none")


def _binary_correct(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((p > 0.5).to(y.dtype) == y).to(p.dtype)


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # What F.cross_entropy computes, spelled as log-softmax + gather: under vmap,
    # F.cross_entropy runs nll_loss's Python decomposition, whose first shape check imports
    # sympy (about 1.2 s of the first vmapped round); these two ops have batching rules.
    return -F.log_softmax(logits, -1).gather(-1, y.long().unsqueeze(-1)).squeeze(-1)


def _argmax_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == y.long()).to(logits.dtype)


def _tokens(y: torch.Tensor) -> torch.Tensor:
    """1 for real target tokens, 0 for padding (id 0), `[N, T]`."""
    return (y > 0).float()


def _sequence_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sequence's mean cross-entropy over its real tokens: logits `[N, T, V]`, y `[N, T]`."""
    per_token = _cross_entropy(logits.flatten(0, 1), y.flatten()).view(y.shape)
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


def _bce_from_logits(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")


def _logit_correct(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((z > 0).to(y.dtype) == y).to(z.dtype)


# A loss's per-sample function -> (the final layer it undoes, the same loss and hits
# from that layer's input). LogSoftmax before cross-entropy is idempotent, so dropping it
# is exact; a final Softmax is not (cross-entropy would softmax twice) and stays.
_FROM_LOGITS: dict[Callable, tuple[type[nn.Module], Loss]] = {
    _bce: (nn.Sigmoid, Loss(_bce_from_logits, _logit_correct)),
    _cross_entropy: (nn.LogSoftmax, LOSSES["cross_entropy"]),
}
# Layers after the squashing that only reshape: the logits go through them unchanged.
_RESHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)


def logit_head(module: nn.Module, loss: Loss) -> tuple[nn.Module, Loss] | None:
    """`(module without its final squashing layer, loss from logits)` when `module` is a
    Sequential ending in the layer `loss` undoes (Sigmoid for bce, then only
    reshapes), else None. The logits form is cheaper (one fused kernel instead of a
    sigmoid and two logs) and exact where BCE on probabilities clamps its logs at -100.
    The returned Sequential shares the module's layers and parameter names."""
    if loss.per_sample not in _FROM_LOGITS or not isinstance(module, nn.Sequential):
        return None
    squash, from_logits = _FROM_LOGITS[loss.per_sample]
    children = list(module.named_children())
    last = len(children) - 1
    while last >= 0 and isinstance(children[last][1], _RESHAPES):
        last -= 1
    if last < 0 or type(children[last][1]) is not squash:
        return None
    return nn.Sequential(OrderedDict(children[:last] + children[last + 1:])), from_logits
