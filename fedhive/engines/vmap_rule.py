"""When the vectorized engine vmaps a chunk of clients, and the plain one-client-at-a-time
update it runs instead when vmapping would be slower.

The rule, from what is known before training (measured at one torch thread, 2-core CPU):
- The chunk's real steps must be at least MIN_FILL times its padded length. A vmapped step
  costs 2-3 plain steps of a small model (vmap's batching rules around every op), so one
  client alone, or an outlier with a few short clients, runs plain: no vmap of size 1, no
  padding of short clients to a long one.
- On a CPU, an update whose convolutions cost more than MAX_CONV_MACS multiply-adds a
  client step runs plain. vmap turns per-client convolution weights into grouped
  convolutions, which CPU kernels run less efficiently than k plain ones, while what vmap
  saves is per-op dispatch; so small convolution stacks gain and large ones lose.
Both run the same update function on the same keyed data, so results agree to float rounding
(a client alone gets exactly the sequential engine's result), and both decisions rest on
shapes and step counts only, so a run makes the same choices on every run and resume.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.data.batches import Batches
from fedhive.engines.base import CohortResult
from fedhive.engines.sequential import stack_results

MIN_FILL = 2.5
# Vmapped against plain, per client step, 8 clients, one thread (multiply-adds a step in
# brackets): the bench's 1-8-16 CNN 0.66x (6 M), NIID-Bench's simple CNN at batch 64
# 0.81x (15 M), a 8/16-channel CNN 0.65-0.81x (25 M), two 3x3 'same' convolutions 0.92x
# (31 M); a 16/32 CNN 0.78-0.89x (90 M) and 24/48 0.89x (195 M), but an 8/16/32 ResNet
# 0.96-1.29x (77 M), ResNet-8 1.34x (294 M) and McMahan's 32/64 CNN 1.19x (342 M). Below
# this bound every model measured gained; above it some lose.
MAX_CONV_MACS = 50_000_000
_CONVOLUTIONS = frozenset({F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
                           F.conv_transpose3d})


def chunk_steps(data: Batches) -> tuple[torch.Tensor, int]:
    """A padded chunk's real steps per client `[k]` and its padded length: `vmap_pays`'s inputs."""
    return (data.mask.amax(-1) > 0).sum(-1), data.mask.shape[1]


def vmap_pays(steps: torch.Tensor, padded: int, conv_macs: int = 0) -> bool:
    """Whether one vmapped call beats running clients with real `steps` `[k]` each, padded
    to `padded` steps, one at a time (`conv_macs`: the update's convolution multiply-adds
    a client step, counted on a CPU by `conv_macs`; 0 elsewhere)."""
    return conv_macs <= MAX_CONV_MACS and float(steps.sum()) >= MIN_FILL * padded


class _CountsConvolutions(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _CONVOLUTIONS:
            weight = args[1] if len(args) > 1 else (kwargs or {})["weight"]
            # Every weight is used once per output position, whatever the groups (for a
            # transposed convolution, with a stride, an upper bound).
            positions = out.numel() // out.shape[1 - weight.dim()]
            self.macs += positions * weight.numel()
        return out


def conv_macs(update: ClientUpdate, params: torch.Tensor, data: Batches, states: dict[str, torch.Tensor],
              inputs: dict[str, torch.Tensor], keys: torch.Tensor) -> int:
    """The multiply-adds of the convolutions `update` calls in one client step: it runs
    once, plainly, on the first step of the chunk's first client (a pure function: the
    result is dropped). Shapes alone decide it, so a resumed run counts the same."""
    one = Batches(data.x[0, :1], data.y[0, :1], data.mask[0, :1], data.sizes[0])
    mode = _CountsConvolutions()
    try:
        with mode:
            update(params, one, _row(states, 0), _row(inputs, 0), keys[0])
    except Exception:  # the chunk's own call raises it again, where failures are handled
        return 0
    return mode.macs


def vmapped_result(out: ClientResult, dtype: torch.dtype) -> CohortResult:
    """A vmapped update's batched ClientResult as the chunk's results, weights in `dtype`."""
    return CohortResult(out.update, out.weight.to(dtype), out.metrics, out.state, out.outputs)


def one_at_a_time(update: ClientUpdate, params: torch.Tensor, data: Batches, states: dict[str, torch.Tensor],
                  inputs: dict[str, torch.Tensor], keys: torch.Tensor, stacked: bool = False) -> CohortResult:
    """The chunk's results in client order, computed client by client on each client's
    steps without padding, as the sequential engine does; with `stacked`, client k starts
    from `params[k]` (asynchronous runs) instead of all from `params`."""
    start = (lambda k: params[k]) if stacked else (lambda k: params)  # noqa: E731
    rows = [update(start(k), data.client(k), _row(states, k), _row(inputs, k), keys[k]) for k in range(len(keys))]
    return stack_results(list(rows), params[0] if stacked else params, states)


def _row(d: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    return {name: v[k] for name, v in d.items()}
