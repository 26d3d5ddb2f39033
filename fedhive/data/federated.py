"""FederatedDataset: a fixed dataset split among clients, stored as packed tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch

from fedhive import rng
from fedhive.data.batches import Batches, Steps


class ClientData(Protocol):
    """What engines and the round loop need from any federated dataset, packed or generated.
    A dataset may also offer `ReportsWork` (engines then group clients of similar work),
    `DrawsSteps` (the fused gradient path then draws without padding) and `DrawsLeading`
    (a fixed-steps client update then receives only the batches it takes)."""

    num_clients: int
    input_shape: tuple[int, ...]
    num_features: int
    num_classes: int

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        """The cohort's training data for this round, padded: x `[K, S, B, ...]` + mask."""

    def test_set(self, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The global test set used in this round: x `[N, ...]`, y `[N]`."""

    def client_test_split(self) -> "Packed | None":
        """Every client's own test samples, or None when clients have none."""

    def label_counts(self) -> torch.Tensor | None:
        """`[C, num_classes]` training labels per client, or None when data is drawn fresh."""


@runtime_checkable
class ReportsWork(Protocol):
    """A dataset that tells each client's work this round without drawing its data."""

    def work(self, round: int, client_ids: Sequence[int]) -> list[int]:
        """Each client's number of batches this round."""


@runtime_checkable
class DrawsSteps(Protocol):
    """A dataset that draws a cohort packed with no padding steps (`Steps`)."""

    def cohort_steps(self, round: int, client_ids: Sequence[int]) -> Steps:
        """The cohort's training data for this round, one client's steps after another's."""


@runtime_checkable
class DrawsLeading(Protocol):
    """A dataset that draws only each client's first batches of the round."""

    def leading_batches(self, round: int, client_ids: Sequence[int], steps: int) -> Batches:
        """The first `steps` of each client's `cohort_batches`, `sizes` still its whole n_k."""


def unchanged_draw(dataset: ClientData, name: str) -> Callable | None:
    """The dataset's own draw `name` (`cohort_steps`, `leading_batches`), unless a subclass
    overrides `cohort_batches` below the class that defines it: that subclass changed the
    data (a skew, a transform), and the inherited draw would bypass the change."""
    mro = type(dataset).__mro__
    owner = next((c for c in mro if name in vars(c)), None)
    batches_owner = next((c for c in mro if "cohort_batches" in vars(c)), None)
    if owner and batches_owner and batches_owner is not owner and issubclass(batches_owner, owner):
        return None
    return getattr(dataset, name, None)


def client_id_tensor(client_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Client ids as an int64 tensor, without a Python call per id when they already are one."""
    if isinstance(client_ids, torch.Tensor):
        return client_ids.to(torch.int64)
    return torch.as_tensor([int(c) for c in client_ids], dtype=torch.int64)


def reported_work(dataset: ClientData, round: int, client_ids: Sequence[int]) -> list[int] | None:
    """Each client's batch count when the dataset reports it (`ReportsWork`), else None."""
    return dataset.work(round, client_ids) if isinstance(dataset, ReportsWork) else None


class Packed(NamedTuple):
    """Samples grouped by client: client i owns rows `offsets[i]:offsets[i + 1]` of x and y."""

    x: torch.Tensor  # [N, ...]
    y: torch.Tensor  # [N]
    offsets: torch.Tensor  # [C + 1] int64

    @property
    def sizes(self) -> torch.Tensor:
        return self.offsets.diff()

    def owners(self) -> torch.Tensor:
        """The client of every row: `[N]`."""
        return torch.repeat_interleave(torch.arange(len(self.offsets) - 1), self.sizes)

    def label_counts(self, num_classes: int) -> torch.Tensor:
        """`[C, num_classes]` samples of each label held by each client."""
        c = len(self.offsets) - 1
        flat = self.owners() * num_classes + self.y.long()
        return torch.bincount(flat, minlength=c * num_classes).view(c, num_classes)


class FederatedDataset:
    """A dataset split among clients: one tensor per field plus per-client offsets.

    Client i trains on `train` rows `offsets[i]:offsets[i + 1]`; in round r its rows are
    shuffled by the key (seed, r, i, "shuffle") and cut into ceil(n_i / batch_size)
    batches. Gathering a cohort is one index operation on the packed tensors.

    Args:
        train: the clients' training samples.
        num_classes: number of labels.
        client_test: each client's own test samples (same client order), or None.
        test: the global test set `(x, y)`; when None, the union of the clients' test splits.
        batch_size: B, samples per local step.
        seed: the run seed keying the per-round shuffles.
        name: a label for reports; `info` holds how the data was built (partition config...).
    """

    def __init__(self, train: Packed, num_classes: int, client_test: Packed | None = None,
                 test: tuple[torch.Tensor, torch.Tensor] | None = None, batch_size: int = 32, seed: int = 0,
                 name: str = "dataset", info: dict[str, Any] | None = None):
        if test is None and client_test is None:
            raise ValueError("a FederatedDataset needs a global test set or per-client test splits")
        self.train, self.client_test, self.num_classes = train, client_test, num_classes
        self.separate_test = test is not None
        if test is None:
            assert client_test is not None  # checked above
            test = (client_test.x, client_test.y)
        self._test = test
        self.batch_size, self.seed, self.name, self.info = batch_size, seed, name, dict(info or {})
        self.num_clients = len(train.offsets) - 1
        self.input_shape = tuple(train.x.shape[1:])
        self.num_features = int(torch.Size(self.input_shape).numel())

    @property
    def client_sizes(self) -> torch.Tensor:
        """Training samples per client, `[C]`: weights for samplers and weighted aggregation."""
        return self.train.sizes

    @property
    def client_weights(self) -> torch.Tensor:
        """Each client's share of all training samples, `[C]`, summing to 1."""
        sizes = self.client_sizes.double()
        return sizes / sizes.sum()

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        """The cohort's shuffled batches: x `[K, S, B, ...]`, S the longest client's steps."""
        return self._draw(round, client_ids, None)

    def leading_batches(self, round: int, client_ids: Sequence[int], steps: int) -> Batches:
        """The first `steps` of each client's `cohort_batches` (all of them when it has
        fewer), with `sizes` still its whole training set: S = min(steps, longest)."""
        return self._draw(round, client_ids, steps)

    def _draw(self, round: int, client_ids: Sequence[int], steps: int | None) -> Batches:
        ids = client_id_tensor(client_ids)
        starts, sizes = self.train.offsets[ids], self.train.sizes[ids]
        b = self.batch_size
        batches = (sizes + b - 1) // b
        if steps is not None:
            batches = batches.clamp_max(steps)
        taken = torch.minimum(sizes, batches * b)  # rows drawn per client
        width = int(batches.max()) * b if len(ids) else 0
        rows = torch.full((len(ids), width), -1, dtype=torch.long)
        # One keyed permutation per client, the keys drawn in bulk, so a client's leading
        # batches are those of its whole epoch. A per-row keyed hash with one segmented
        # sort was measured 3-4x slower than these O(n) randperms.
        perms = [torch.randperm(n, generator=g)[:t] for g, n, t in
                 zip(rng.generators(self.seed, round, ids, "shuffle"), sizes.tolist(), taken.tolist())]
        if perms:
            rows[torch.arange(width) < taken[:, None]] = torch.cat(perms) + starts.repeat_interleave(taken)
        drawn = gather(self.train, rows.view(len(ids), width // b, b))
        return drawn if steps is None else drawn._replace(sizes=sizes.to(drawn.mask.dtype))

    def work(self, round: int, client_ids: Sequence[int]) -> list[int]:
        """Each client's number of batches, without gathering its data; engines group
        clients of similar work to bound padding."""
        sizes = self.train.sizes[client_id_tensor(client_ids)]
        return ((sizes + self.batch_size - 1) // self.batch_size).tolist()

    def test_set(self, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The global test set (fixed: the same every round)."""
        return self._test

    def client_test_split(self) -> Packed | None:
        return self.client_test

    def label_counts(self) -> torch.Tensor | None:
        """`[C, num_classes]` training samples of each label per client; None for sequence
        labels (next-word targets), which have no single label per sample."""
        return self.train.label_counts(self.num_classes) if self.train.y.dim() == 1 else None

    def __repr__(self) -> str:
        n_test = 0 if self.client_test is None else len(self.client_test.y)
        return (f"FederatedDataset({self.name!r}, clients={self.num_clients}, train={len(self.train.y)}, "
                f"client_test={n_test}, test={len(self._test[1])}, input_shape={self.input_shape}, "
                f"classes={self.num_classes})")


def gather(packed: Packed, rows: torch.Tensor) -> Batches:
    """Batches from row indices `[K, S, B]` into `packed` (-1 marks padding, which is zero)."""
    valid = rows >= 0
    safe = rows.clamp_min(0)
    x, y = _zero_padding(packed.x[safe], valid), _zero_padding(packed.y[safe], valid)  # y may be [.., T]
    return Batches(x, y, valid.to(x.dtype if x.is_floating_point() else torch.float32))


def _zero_padding(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    keep = valid.view(*valid.shape, *([1] * (values.dim() - valid.dim())))
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype))


def pad_clients(packed: Packed, client_ids: Sequence[int] | torch.Tensor) -> Batches:
    """The clients' samples in stored order, padded to the largest: x `[K, 1, M, ...]`."""
    ids = torch.as_tensor(client_ids, dtype=torch.long)
    sizes = packed.sizes[ids]
    m = int(sizes.max()) if len(ids) else 0
    col = torch.arange(m)
    rows = torch.where(col < sizes[:, None], packed.offsets[ids][:, None] + col, -1)
    return gather(packed, rows.unsqueeze(1))
