"""Token models: LSTMs written as tensor ops over time steps (so `vmap` over a cohort's
parameters runs them) and a bag-of-words classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedhive.errors import UserError


class LSTMLayer(nn.Module):
    """One LSTM layer, `[N, T, I] -> [N, T, H]`, gates in nn.LSTM's order (input, forget,
    cell, output). torch's fused LSTM kernel has no vmap rule; these matmuls do."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.input = nn.Linear(inputs, 4 * hidden)
        self.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Every step's input projection in one matmul, split by `unbind`: its backward
        # stacks the steps' gradients once, where indexing `[:, t]` scattered each into a
        # zero tensor of the whole sequence (T of them: O(T^2) time and memory).
        gates_in = self.input(x).unbind(1)
        h = c = x.new_zeros(x.shape[0], self.hidden)
        outputs = []
        for step in gates_in:
            i, f, g, o = (step + self.recurrent(h)).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class TokenLSTM(nn.Module):
    """Embedding, stacked LSTM layers, then logits over `vocab` tokens: for the last step
    only (`[N, vocab]`, LEAF's Shakespeare next character) or for every step
    (`[N, T, vocab]`, TFF's StackOverflow next word, through a `dense` projection)."""

    def __init__(self, vocab: int, embedding: int, hidden: Sequence[int], every_step: bool = False,
                 dense: int | None = None):
        super().__init__()
        self.every_step = every_step
        self.embed = nn.Embedding(vocab, embedding)
        widths = [embedding, *hidden]
        self.layers = nn.ModuleList(LSTMLayer(a, b) for a, b in zip(widths, widths[1:]))
        head: list[nn.Module] = [nn.Linear(widths[-1], dense), nn.Linear(dense, vocab)] if dense else \
            [nn.Linear(widths[-1], vocab)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.long())
        for layer in self.layers:
            h = layer(h)
        return self.head(h if self.every_step else h[:, -1])


class BagOfWords(nn.Module):
    """The mean embedding of a text's words (id 0 is padding, left out), then a linear layer."""

    def __init__(self, vocab: int, embedding: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.out = nn.Linear(embedding, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        words = (x > 0).unsqueeze(-1).to(self.embed.weight.dtype)
        mean = (self.embed(x.long()) * words).sum(1) / words.sum(1).clamp_min(1.0)
        return self.out(mean)


def token_input(input_shape: Sequence[int], model: str) -> None:
    if len(input_shape) != 1:
        raise UserError(f"model.name: {model} needs token sequences [T], the dataset's inputs are {tuple(input_shape)}")
