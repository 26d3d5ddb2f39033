"""From plain arrays to a FederatedDataset: partition, per-client test split, packing."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from pydantic import ValidationError

from fedhive import rng
from fedhive.config import PartitionConfig, format_validation_error
from fedhive.data.federated import FederatedDataset, Packed
from fedhive.data.partition import Partition, describe as describe_partition, partition
from fedhive.data.validate import check_arrays, warn_empty_clients
from fedhive.errors import UserError


class ArrayData(NamedTuple):
    """A whole dataset before federation. `groups` (optional, `[N]`) is the natural client
    of each training sample (user, writer, device); `x_test`/`y_test` an official test set;
    `floor_train`: each client keeps floor((1 - f)·n) samples for training, as the reference
    code of FedProx's and LEAF's generators splits, rather than holding out floor(f·n)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int | None  # None until check_arrays finds it (max label + 1)
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    groups: np.ndarray | None = None
    floor_train: bool = False


def split_client_test(part: Partition, fraction: float, seed: int,
                      floor_train: bool = False) -> tuple[Partition, Partition]:
    """Hold out floor(fraction * n_i) random samples of each client (keeping >= 1 for
    training) as its test split, or, with `floor_train`, all but floor((1 - fraction) * n_i).
    Vectorized: a random rank within each client."""
    sizes = part.sizes
    owner = np.repeat(np.arange(part.num_clients), sizes)
    u = rng.numpy_generator(seed, purpose="client-test-split").random(len(owner))
    by_client = np.lexsort((u, owner))  # owner-major, random within a client
    rank = np.arange(len(owner)) - part.offsets[owner]
    held = sizes - np.floor(sizes * (1 - fraction)) if floor_train and fraction > 0 else np.floor(sizes * fraction)
    n_test = np.minimum(held.astype(np.int64), np.maximum(sizes - 1, 0))
    is_test = rank < n_test[owner]
    order = part.order[by_client]

    def packed(keep: np.ndarray, counts: np.ndarray) -> Partition:
        return Partition(order[keep], np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    return packed(~is_test, sizes - n_test), packed(is_test, n_test)


def _pack(x: np.ndarray, y: np.ndarray, part: Partition) -> Packed:
    idx = torch.from_numpy(part.order)
    return Packed(torch.as_tensor(x)[idx].contiguous(), torch.as_tensor(y)[idx].contiguous(),
                  torch.from_numpy(part.offsets))


def federate(data: ArrayData, partition_config: PartitionConfig, clients: int, seed: int,
             client_test_fraction: float = 0.2, batch_size: int = 32) -> FederatedDataset:
    """Split `data` among clients as `partition_config` says (keyed by `seed`), hold out
    each client's test split, and pack everything into a FederatedDataset."""
    if data.x_test is None and client_test_fraction == 0:
        raise UserError(f"data.client_test_fraction: {data.name} has no test set of its own; use a fraction > 0")
    x = np.asarray(data.x, dtype=np.float32)
    y = np.asarray(data.y, dtype=np.int64)
    part = partition(partition_config, y, clients, seed, data.groups)
    warn_empty_clients(part.sizes, data.name)
    train, own_test = split_client_test(part, client_test_fraction, seed, data.floor_train)
    client_test = _pack(x, y, own_test) if client_test_fraction > 0 else None
    test = None
    if data.x_test is not None:
        test = (torch.as_tensor(np.asarray(data.x_test, dtype=np.float32)),
                torch.as_tensor(np.asarray(data.y_test, dtype=np.int64)))
    assert data.num_classes is not None  # the arrays come through check_arrays, which sets it
    info = {"source": data.name, "partition": describe_partition(partition_config),
            "partition_seed": seed, "client_test_fraction": client_test_fraction}
    return FederatedDataset(_pack(x, y, train), data.num_classes, client_test, test, batch_size, seed,
                            data.name, info)


def partition_config(name: str | PartitionConfig = "iid", **params: Any) -> PartitionConfig:
    """A PartitionConfig from a name and parameters, e.g. `("dirichlet", alpha=0.1)`."""
    if isinstance(name, PartitionConfig):
        return name.model_copy(update=params)
    try:
        return PartitionConfig(name=name, **params)
    except ValidationError as e:
        raise UserError(f"partition: {format_validation_error(e)}") from None


def from_arrays(x: Any, y: Any, *, clients: int = 100, partition: str | PartitionConfig = "iid",
                x_test: Any = None, y_test: Any = None, groups: Any = None, num_classes: int | None = None,
                client_test_fraction: float = 0.2, batch_size: int = 32, seed: int = 0,
                name: str = "arrays", drop_nonfinite: bool = False, **partition_params: Any) -> FederatedDataset:
    """Federate your own arrays (numpy or torch): `x [N, ...]`, integer labels `y [N]`.

    `partition` names a partitioner (iid, dirichlet, label_quantity, shards, quantity_skew, ...) and
    `partition_params` its parameters (alpha=0.1, min_size=10, ...); `groups [N]` gives
    each sample's natural client (for partition="natural"). Without `x_test`, the global
    test set is the union of the clients' test splits. The arrays are checked first
    (fedhive.data.validate): a mismatch, a label out of range or a NaN/Inf feature is a
    UserError, unless `drop_nonfinite` drops such rows (with a warning).
    """
    data = check_arrays(ArrayData(name, np.asarray(x), np.asarray(y), num_classes, x_test, y_test, groups),
                        name, drop_nonfinite)
    return federate(data, partition_config(partition, **partition_params), clients, seed,
                    client_test_fraction, batch_size)
