"""Generated datasets: the reference task (fresh data every round) and LEAF synthetic(alpha, beta)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedhive import rng
from fedhive.config import DataConfig, SyntheticConfig
from fedhive.data.batches import Batches, Steps

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
    input_shape = (2,)
    num_classes = 2

    def __init__(self, config: DataConfig, seed: int):
        self.config = config
        self.seed = seed
        self.num_clients = config.clients

    def cohort_steps(self, round: int, client_ids: Sequence[int]) -> Steps:
        """The cohort's data packed client after client: x `[sum of steps, B, 2]`.

        Each client draws straight into its slice of one buffer from its keyed generator
        (one per client and round); the whole buffer is then labelled at once."""
        steps = self._steps(round, client_ids)
        b, counts = self.config.batch_size, steps.tolist()
        x = torch.empty(sum(counts), b, self.num_features)
        lo = 0
        for c, s in zip(client_ids, counts):
            torch.rand(s, b, self.num_features, generator=rng.generator(self.seed, round, int(c), "data"),
                       out=x[lo:lo + s])
            lo += s
        return Steps(x.mul_(2).sub_(1), label(x), None, steps)

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
        return self._steps(round, client_ids).tolist()

    def _steps(self, round: int, client_ids: Sequence[int]) -> torch.Tensor:
        """Each client's batch count, `[K]` int64, from one keyed uniform per client,
        computed for the whole cohort in a few tensor operations."""
        lo, hi = self.config.batches.min, self.config.batches.max
        keys = rng.keys(self.seed, round, torch.as_tensor(list(client_ids), dtype=torch.int64), "data-steps")
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


def leaf_synthetic(config: SyntheticConfig, devices: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic(alpha, beta) of Li et al. 2020 (FedProx, Section 5.1), as LEAF generates it.

    Device k draws u_k ~ N(0, alpha) and B_k ~ N(0, beta); its model W_k ~ N(u_k, 1)
    `[d, c]`, b_k ~ N(u_k, 1) `[c]`; its feature mean v_k ~ N(B_k, 1) `[d]`; its samples
    x ~ N(v_k, Sigma) with Sigma = diag(j^-1.2) and y = argmax(x W_k + b_k). With `iid`,
    one W, b ~ N(0, 1) is shared and v = 0. Sizes follow LEAF's power law:
    floor(LogNormal(4, 2)) + 50 samples per device.

    Returns x `[N, d]` float32, y `[N]` int64 and each sample's device `[N]`.
    """
    d, c = config.features, config.classes
    g = rng.numpy_generator(seed, purpose="synthetic")
    sizes = g.lognormal(4, 2, devices).astype(np.int64) + 50
    u, shift = g.normal(0, config.alpha, devices), g.normal(0, config.beta, devices)
    shared_w, shared_b = g.normal(0, 1, (d, c)), g.normal(0, 1, c)
    std = np.arange(1, d + 1) ** -0.6  # sqrt of Sigma_jj = j^-1.2
    xs, ys = [], []
    for k in range(devices):  # a loop over devices; each device's samples are one draw
        gk = rng.numpy_generator(seed, client=k, purpose="synthetic")
        w, b = (shared_w, shared_b) if config.iid else (gk.normal(u[k], 1, (d, c)), gk.normal(u[k], 1, c))
        mean = np.zeros(d) if config.iid else gk.normal(shift[k], 1, d)
        x = mean + gk.standard_normal((sizes[k], d)) * std
        xs.append(x.astype(np.float32))
        ys.append(np.argmax(x @ w + b, axis=1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.repeat(np.arange(devices), sizes)
