"""The reference task: fresh 2-feature data every round, keyed per (round, client)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive import rng
from fedhive.config import DataConfig
from fedhive.data.batches import Batches, Steps
from fedhive.data.federated import client_id_tensor

TRUE_WEIGHTS = (0.3, 0.2, 0.8)  # bias, x1, x2


def label(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """1.0 where w·[1, x1, x2] > 0 for the true weights, else 0.0 (into `out` if given)."""
    b, w1, w2 = TRUE_WEIGHTS
    out = torch.empty(x.shape[:-1], dtype=x.dtype) if out is None else out
    # (b + w1*x1) + w2*x2, in this order and without fused multiply-adds, in place.
    torch.mul(x[..., 0], w1, out=out)
    out.add_(b)
    out.add_(x[..., 1].mul(w2))
    return out.gt_(0)


class ReferenceTask:
    """A universe of clients; client c in round r draws randint(min, max+1) batches of
    `batch_size` points with x ~ U[-1, 1]^2, keyed by (seed, r, c), so its data is fresh
    every round and independent of how clients are grouped."""

    num_features = 2
    input_shape: tuple[int, ...] = (2,)
    num_classes = 2

    def __init__(self, config: DataConfig, seed: int):
        self.config = config
        self.seed = seed
        self.num_clients = config.clients

    def cohort_steps(self, round: int, client_ids: Sequence[int]) -> Steps:
        """The cohort's data packed client after client: x `[sum of steps, B, 2]`.

        Each client draws straight into its slice of one buffer from its keyed generator
        (one per client and round, keyed in bulk); the whole buffer is then labelled at once."""
        ids = client_id_tensor(client_ids)
        steps = self._steps(round, ids)
        b, counts = self.config.batch_size, steps.tolist()
        x = torch.empty(sum(counts), b, self.num_features)
        lo = 0
        for g, s in zip(rng.generators(self.seed, round, ids, "data"), counts):
            # Bit-identical to `torch.rand(...) * 2 - 1` (2u - 1 is exact in float32), in one pass.
            x[lo:lo + s].uniform_(-1, 1, generator=g)
            lo += s
        return Steps(x, label(x), None, steps)

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        """The cohort's data padded to its longest client: x `[K, S, B, 2]` (padding zero)."""
        packed = self.cohort_steps(round, client_ids)
        k, s_max, b = len(client_ids), int(packed.steps.max()) if len(client_ids) else 0, self.config.batch_size
        real = torch.arange(s_max) < packed.steps.unsqueeze(1)
        x = packed.x.new_zeros(k, s_max, b, self.num_features)
        y = packed.y.new_zeros(k, s_max, b)
        x[real], y[real] = packed.x, packed.y
        # The mask is constant within a step: a broadcast view, not K*S*B floats.
        mask = real.to(x.dtype).unsqueeze(-1).expand(k, s_max, b)
        return Batches(x, y, mask)

    def work(self, round: int, client_ids: Sequence[int]) -> list[int]:
        """Each client's number of batches this round, without drawing its data; engines
        group clients of equal work to cut padding."""
        return self._steps(round, client_id_tensor(client_ids)).tolist()

    def _steps(self, round: int, ids: torch.Tensor) -> torch.Tensor:
        """Each client's batch count, `[K]` int64, from one keyed uniform per client,
        computed for the whole cohort in a few tensor operations."""
        lo, hi = self.config.batches.min, self.config.batches.max
        keys = rng.keys(self.seed, round, ids, "data-steps")
        u = rng.keyed_uniform(keys.unsqueeze(-1), 1).squeeze(-1)
        return lo + (u * (hi - lo + 1)).long()

    def test_set(self, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh test set for this round: x `[N, 2]`, y `[N]`."""
        g = rng.generator(self.seed, round, rng.GLOBAL, "test")
        x = torch.rand(self.config.test_size, self.num_features, generator=g) * 2 - 1
        return x, label(x)

    def client_test_split(self) -> None:
        """Clients of the reference task hold no fixed data, hence no test split of their own."""
        return None

    def label_counts(self) -> None:
        """No fixed per-client labels either: each round's data is fresh."""
        return None
