"""Partitioners: split a dataset's samples among clients, every draw keyed by the seed.

Each partitioner assigns every sample an owner (a client id) with vectorized numpy, and
`from_owner` packs the owners into a `Partition`: sample order plus per-client offsets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fedhive import rng
from fedhive.config import PartitionConfig
from fedhive.errors import UserError

MAX_DIRICHLET_TRIES = 1000
# The config fields each partitioner reads (for reports and dataset headers).
PARAMETERS = {"iid": (), "dirichlet": ("alpha",), "dirichlet_classes": ("alpha", "min_size", "balanced"),
              "label_quantity": ("labels_per_client",), "shards": ("shards_per_client",),
              "quantity_skew": ("sizes", "sigma", "exponent", "alpha", "min_size"), "similarity": ("similarity",),
              "natural": ()}


def describe(config: PartitionConfig) -> dict:
    """The partitioner's name and only the parameters it uses."""
    return {"name": config.name, **{k: getattr(config, k) for k in PARAMETERS[config.name]}}


class Partition(NamedTuple):
    """Client i owns the samples `order[offsets[i]:offsets[i + 1]]` of the source arrays."""

    order: np.ndarray  # [N] int64 sample indices, grouped by client
    offsets: np.ndarray  # [C + 1] int64

    @property
    def num_clients(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def client(self, i: int) -> np.ndarray:
        return self.order[self.offsets[i]:self.offsets[i + 1]]


def from_owner(owner: np.ndarray, num_clients: int) -> Partition:
    """Pack a per-sample owner array (client ids in [0, num_clients)) into a Partition."""
    order = np.argsort(owner, kind="stable").astype(np.int64)
    counts = np.bincount(owner, minlength=num_clients)
    return Partition(order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def _check_enough(num_samples: int, num_clients: int, per_client: int = 1) -> None:
    if num_samples < num_clients * per_client:
        raise UserError(
            f"data.clients: {num_clients} clients with at least {per_client} sample(s) each "
            f"need {num_clients * per_client} samples, the dataset has {num_samples}"
        )


def _split_owner(sizes: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """Owners for a random assignment of sum(sizes) samples, client i getting sizes[i]."""
    owner = np.empty(int(sizes.sum()), dtype=np.int64)
    owner[g.permutation(len(owner))] = np.repeat(np.arange(len(sizes)), sizes)
    return owner


def equal_sizes(num_samples: int, num_clients: int) -> np.ndarray:
    """Sizes summing to num_samples that differ by at most one."""
    _check_enough(num_samples, num_clients)
    sizes = np.full(num_clients, num_samples // num_clients)
    sizes[: num_samples % num_clients] += 1
    return sizes


def iid(num_samples: int, num_clients: int, g: np.random.Generator) -> Partition:
    """Uniformly random, equal sizes (differing by at most one)."""
    return from_owner(_split_owner(equal_sizes(num_samples, num_clients), g), num_clients)


def dirichlet(labels: np.ndarray, num_clients: int, alpha: float, g: np.random.Generator) -> Partition:
    """Label skew of Hsu et al. 2019: client i's label proportions are q_i ~ Dir(alpha * p),
    p the dataset's label frequencies, and it draws N / C samples (sizes differ by at most
    one) by q_i without replacement. When a class runs out, clients draw the rest from
    their other classes in proportion to q_i (or, if all of theirs are gone, to what is
    left), so every sample is assigned. Each pass exhausts a class or ends: <= K + 1 passes."""
    need = equal_sizes(len(labels), num_clients)
    _, y = np.unique(labels, return_inverse=True)
    y = y.reshape(-1)
    left = np.bincount(y)
    q = g.dirichlet(alpha * left / left.sum(), size=num_clients)  # [C, K]
    counts = np.zeros_like(q, dtype=np.int64)
    while need.sum() > 0:
        w = q * (left > 0)
        w[w.sum(1) == 0] = left / left.sum()  # clients whose classes are all gone
        want = g.multinomial(need, w / w.sum(1, keepdims=True))
        for c in np.flatnonzero(want.sum(0) > left):  # over-asked classes: grant what is left, at random
            want[:, c] = g.multivariate_hypergeometric(want[:, c], left[c])
        counts += want
        need -= want.sum(1)
        left -= want.sum(0)
    owner = np.empty(len(y), dtype=np.int64)
    for k in range(counts.shape[1]):
        idx = np.flatnonzero(y == k)
        owner[idx[g.permutation(len(idx))]] = np.repeat(np.arange(num_clients), counts[:, k])
    return from_owner(owner, num_clients)


def _cut(p: np.ndarray, n: int) -> np.ndarray:
    """Counts of n items cut at the cumulative proportions p (floored, the last takes the rest)."""
    counts = np.diff(np.floor(np.cumsum(np.concatenate([[0.0], p])) * n).astype(np.int64))
    counts[-1] += n - counts.sum()  # float rounding of the last cut
    return counts


def _too_few(alpha: float, num_clients: int, min_size: int, what: str = "") -> UserError:
    return UserError(
        f"data.partition.min_size: no Dirichlet(alpha={alpha}){what} draw in {MAX_DIRICHLET_TRIES} gave each of "
        f"{num_clients} clients {min_size} samples; lower min_size or data.clients, or raise alpha")


def dirichlet_classes(labels: np.ndarray, num_clients: int, alpha: float, min_size: int,
                      g: np.random.Generator, balanced: bool = False) -> Partition:
    """Label and size skew, in the per-class form of NIID-Bench and Flower's
    DirichletPartitioner: each class's samples are split among the clients in proportions
    drawn from Dir(alpha * 1_C), so client sizes vary too. `balanced` is NIID-Bench's rule:
    a client already holding N / C samples gets no share of the classes dealt after. The
    whole draw is repeated until every client holds at least `min_size` samples."""
    _check_enough(len(labels), num_clients, min_size)
    classes = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    for _ in range(MAX_DIRICHLET_TRIES):
        owner = np.empty(len(labels), dtype=np.int64)
        held = np.zeros(num_clients, dtype=np.int64)
        for idx in classes:
            p = g.dirichlet(np.full(num_clients, alpha))
            if balanced:
                p = p * (held < len(labels) / num_clients)  # someone is below N / C until the last class
                p = p / p.sum()
            counts = _cut(p, len(idx))
            held += counts
            owner[idx[g.permutation(len(idx))]] = np.repeat(np.arange(num_clients), counts)
        if held.min() >= min_size:
            return from_owner(owner, num_clients)
    raise _too_few(alpha, num_clients, min_size)


def label_quantity(labels: np.ndarray, num_clients: int, labels_per_client: int,
                   g: np.random.Generator) -> Partition:
    """Quantity-based label imbalance (NIID-Bench's #C = k): client i holds class i mod K and
    k - 1 other classes drawn at random; each class is split into equal parts (differing by
    at most one) among the clients that hold it."""
    values, y = np.unique(labels, return_inverse=True)
    k = len(values)
    if labels_per_client > k:
        raise UserError(f"data.partition.labels_per_client: {labels_per_client} exceeds the dataset's {k} classes")
    if num_clients < k:
        raise UserError(f"data.clients: label_quantity needs a client for each of the {k} classes, got {num_clients}")
    holds = np.zeros((num_clients, k), dtype=bool)
    for i in range(num_clients):
        others = np.delete(np.arange(k), i % k)
        holds[i, [i % k, *g.choice(others, labels_per_client - 1, replace=False)]] = True
    owner = np.empty(len(y), dtype=np.int64)
    for c in range(k):
        idx = np.flatnonzero(y.reshape(-1) == c)
        holders = np.flatnonzero(holds[:, c])
        owner[idx[g.permutation(len(idx))]] = np.repeat(holders, equal_sizes(len(idx), len(holders)))
    return from_owner(owner, num_clients)


def shards(labels: np.ndarray, num_clients: int, shards_per_client: int, g: np.random.Generator) -> Partition:
    """Pathological non-IID (McMahan et al. 2017): sort by label, cut into
    `num_clients * shards_per_client` equal shards, give each client random shards."""
    num_shards = num_clients * shards_per_client
    _check_enough(len(labels), num_shards)
    perm = g.permutation(len(labels))  # random order among samples of one label
    by_label = perm[np.argsort(labels[perm], kind="stable")]
    shard_of_position = np.arange(len(labels)) * num_shards // len(labels)
    client_of_shard = np.empty(num_shards, dtype=np.int64)
    client_of_shard[g.permutation(num_shards)] = np.repeat(np.arange(num_clients), shards_per_client)
    owner = np.empty(len(labels), dtype=np.int64)
    owner[by_label] = client_of_shard[shard_of_position]
    return from_owner(owner, num_clients)


def similarity(labels: np.ndarray, num_clients: int, s: float, g: np.random.Generator) -> Partition:
    """s%-similarity (Karimireddy et al. 2020, SCAFFOLD §7): a random fraction `s` of the samples
    is shuffled IID across clients, the rest is sorted by label and dealt out in contiguous
    blocks; every client holds N / C samples (sizes differ by at most one), s of them IID."""
    sizes = equal_sizes(len(labels), num_clients)
    shared = np.round(s * sizes).astype(np.int64)  # each client's IID part
    perm = g.permutation(len(labels))
    mixed, rest = perm[: shared.sum()], perm[shared.sum():]
    rest = rest[np.argsort(labels[rest], kind="stable")]  # random order within a label
    owner = np.empty(len(labels), dtype=np.int64)
    owner[mixed] = np.repeat(np.arange(num_clients), shared)
    owner[rest] = np.repeat(np.arange(num_clients), sizes - shared)
    return from_owner(owner, num_clients)


def dirichlet_sizes(num_samples: int, num_clients: int, alpha: float, min_size: int,
                    g: np.random.Generator) -> np.ndarray:
    """NIID-Bench's quantity skew: client shares q ~ Dir(alpha * 1_C), redrawn until every
    client's cut of the samples holds at least `min_size`."""
    _check_enough(num_samples, num_clients, min_size)
    for _ in range(MAX_DIRICHLET_TRIES):
        sizes = _cut(g.dirichlet(np.full(num_clients, alpha)), num_samples)
        if sizes.min() >= min_size:
            return sizes
    raise _too_few(alpha, num_clients, min_size, " sizes")


def skewed_sizes(num_samples: int, num_clients: int, law: str, sigma: float, exponent: float,
                 min_size: int, g: np.random.Generator, alpha: float = 0.5) -> np.ndarray:
    """Client sizes summing to num_samples, each >= min_size: for `lognormal` and
    `power_law` proportional above the minimum to draws from LogNormal(0, sigma) or a
    Pareto law with tail index `exponent`; for `dirichlet`, `dirichlet_sizes`."""
    if law == "dirichlet":
        return dirichlet_sizes(num_samples, num_clients, alpha, min_size, g)
    _check_enough(num_samples, num_clients, min_size)
    w = g.lognormal(0.0, sigma, num_clients) if law == "lognormal" else g.pareto(exponent, num_clients) + 1.0
    share = w / w.sum() * (num_samples - num_clients * min_size)
    sizes = np.floor(share).astype(np.int64)
    left = num_samples - num_clients * min_size - sizes.sum()
    sizes[np.argsort(sizes - share, kind="stable")[:left]] += 1  # largest remainders first
    return sizes + min_size


def quantity_skew(num_samples: int, num_clients: int, g: np.random.Generator, law: str = "lognormal",
                  sigma: float = 1.0, exponent: float = 1.5, min_size: int = 1, alpha: float = 0.5) -> Partition:
    """Size skew: client sizes from `skewed_sizes`, samples assigned uniformly at random."""
    sizes = skewed_sizes(num_samples, num_clients, law, sigma, exponent, min_size, g, alpha)
    return from_owner(_split_owner(sizes, g), num_clients)


def natural(groups: np.ndarray) -> tuple[Partition, np.ndarray]:
    """One client per distinct group (user, writer, device), in sorted group order.
    Returns the partition and the group value of each client."""
    values, owner = np.unique(groups, return_inverse=True)
    return from_owner(owner.reshape(-1).astype(np.int64), len(values)), values


def partition(config: PartitionConfig, labels: np.ndarray, num_clients: int, seed: int,
              groups: np.ndarray | None = None) -> Partition:
    """The partition named in the config of `labels` (and `groups`, for `natural`)."""
    g = rng.numpy_generator(seed, purpose=f"partition-{config.name}")
    if config.name == "iid":
        return iid(len(labels), num_clients, g)
    if config.name == "dirichlet":
        return dirichlet(labels, num_clients, config.alpha, g)
    if config.name == "dirichlet_classes":
        return dirichlet_classes(labels, num_clients, config.alpha, config.min_size, g, config.balanced)
    if config.name == "label_quantity":
        return label_quantity(labels, num_clients, config.labels_per_client, g)
    if config.name == "shards":
        return shards(labels, num_clients, config.shards_per_client, g)
    if config.name == "quantity_skew":
        return quantity_skew(len(labels), num_clients, g, config.sizes, config.sigma, config.exponent, config.min_size,
                             config.alpha)
    if config.name == "similarity":
        return similarity(labels, num_clients, config.similarity, g)
    if groups is None:
        raise UserError("data.partition.name: natural needs a dataset with a client column (data.client_column)")
    return natural(groups)[0]
