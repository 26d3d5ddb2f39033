"""How much memory a model's training holds per sample: the bytes autograd saves for
backward, measured once on two samples, so the vectorized engine can bound a chunk of
vmapped clients by its activations as well as by its data and parameters."""

from __future__ import annotations

import torch
from torch.autograd.graph import saved_tensors_hooks

from fedhive.data.batches import Batches
from fedhive.models.functional import FunctionalModel

# The most saved-for-backward memory a vmapped chunk may hold at once (clients x batch x
# per-sample bytes). The process holds far more than the saved tensors: each vmapped step
# adds transient gradients of similar size, and glibc keeps freed multi-MB buffers mapped.
# LEAF's 2-layer LSTM 256 (1.3 MB saved per sample, batches of 10: 13 MB a client) grew by
# ~330 MB of RSS per vmapped client; 64 MiB (5 such clients) held its real-size run at
# 2.4 GB (10 clients a chunk, with the LSTM then O(T^2) in backward: 9.3 GB).
ACTIVATION_BUDGET = 64 * 2**20


def saved_bytes_per_sample(model: FunctionalModel, params: torch.Tensor, data: Batches) -> int:
    """The bytes autograd saves for backward in one plain training forward, per sample:
    measured on the first two samples of `data` (`[K, S, B, ...]`; two, since batch norm
    refuses to train on one), each saved storage counted once, the parameters' own (views
    of `params`) not at all. Depends on shapes only, so a run and its resume chunk alike."""
    flat = params.detach().requires_grad_()
    own = flat.untyped_storage().data_ptr()
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() != own:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    # Copies, so that a saved input (an embedding's indices) is these samples, not the chunk.
    samples = min(2, data.mask.shape[-1])
    x, y = data.x[0, :1, :samples].clone(), data.y[0, :1, :samples].clone()
    with torch.enable_grad(), saved_tensors_hooks(pack, lambda t: t):
        loss, _ = model.train_losses(flat, x, y, None)
        del loss  # the graph, and with it every saved tensor, lives until here
    return -(-sum(saved.values()) // samples)


def activation_cap(per_sample: int, batch: int) -> int:
    """The most clients whose one training step (`batch` samples each) fits ACTIVATION_BUDGET."""
    return max(1, ACTIVATION_BUDGET // max(1, per_sample * batch))
