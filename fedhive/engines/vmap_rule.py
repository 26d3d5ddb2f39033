"""When the vectorized engine vmaps a chunk of clients, and the plain one-client-at-a-time
update it runs instead when vmapping would be slower.

The rule, from what is known before training (measured at one torch thread, 2-core CPU):
- The chunk's real steps must be at least MIN_FILL times its padded length. A vmapped step
  costs 2-3 plain steps of a small model (vmap's batching rules around every op), so one
  client alone, or an outlier with a few short clients, runs plain: no vmap of size 1, no
  padding of short clients to a long one.
- On a CPU, an update that convolves runs plain: vmap turns per-client convolution weights
  into grouped convolutions, no faster than one client at a time, and padding and big
  chunks cost on top (per client step: 8 CNN clients 1.26-1.35x a plain step, 2-5
  ResNet-8 clients 1.1-1.4x; a 784-200-200 MLP vmapped is ~2x faster).
Both run the same update function on the same keyed data, so results agree to float rounding
(a client alone gets exactly the sequential engine's result), and both decisions rest on
shapes and step counts only, so a run makes the same choices on every run and resume.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from fedhive.client.update import ClientUpdate
from fedhive.data.batches import Batches
from fedhive.engines.base import CohortResult
from fedhive.engines.sequential import stack_results

MIN_FILL = 2.5
_CONVOLUTIONS = frozenset({F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
                           F.conv_transpose3d})


def vmap_pays(steps: torch.Tensor, padded: int, convolves: bool) -> bool:
    """Whether one vmapped call beats running clients with real `steps` `[k]` each, padded
    to `padded` steps, one at a time (`convolves`: the update convolves, on a CPU)."""
    return not convolves and float(steps.sum()) >= MIN_FILL * padded


class _SeesConvolution(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen = self.seen or func in _CONVOLUTIONS
        return func(*args, **(kwargs or {}))


def convolves(update: ClientUpdate, params: torch.Tensor, data: Batches, states: dict[str, torch.Tensor],
              inputs: dict[str, torch.Tensor], keys: torch.Tensor) -> bool:
    """Whether `update` calls a convolution: it runs once, plainly, on the first step of
    the chunk's first client (a pure function: the result is dropped)."""
    one = Batches(data.x[0, :1], data.y[0, :1], data.mask[0, :1], data.sizes[0])
    mode = _SeesConvolution()
    try:
        with mode:
            update(params, one, _row(states, 0), _row(inputs, 0), keys[0])
    except Exception:  # the chunk's own call raises it again, where failures are handled
        return False
    return mode.seen


def one_at_a_time(update: ClientUpdate, params: torch.Tensor, data: Batches, states: dict[str, torch.Tensor],
                  inputs: dict[str, torch.Tensor], keys: torch.Tensor) -> CohortResult:
    """The chunk's results in client order, computed client by client on each client's
    steps without padding, as the sequential engine does."""
    rows = [update(params, data.client(k), _row(states, k), _row(inputs, k), keys[k]) for k in range(len(keys))]
    return stack_results(list(rows), params, states)


def _row(d: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    return {name: v[k] for name, v in d.items()}
