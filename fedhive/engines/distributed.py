"""The distributed engine: each rank of a torch.distributed process group runs its slice of
the cohort with a local engine, then the ranks exchange just enough for every one of them
to take the same server step.

Every rank draws the same cohort from the keyed RNG and splits it the same way (balanced
by work: each client's batch count), so no rank ever has to be told what to do. After the local run:

- a chain that starts with a linear aggregate (sum, mean, weighted mean) gets
  `ReducedUpdates`: each rank's local engine sums its own slice (streaming, O(P)) and one
  `all_reduce` adds the partial sums, so only `[P]` crosses the wire, not `[K, P]`;
- any other chain (robust aggregates, per-client clipping) gets all `[K, P]` rows, from
  one `all_gather`.

Weights and metrics are always gathered (they are small), so the round's metrics row and
the server chain's inputs are the same on every rank and the same as in one process.
Client state (SCAFFOLD, error feedback) never moves: when the algorithm has some, each
client runs on the rank that owns it (`client % world`) instead of the balanced split.
The server chain then runs on every rank; deterministic transforms and keyed noise keep
the models identical without a broadcast.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence

import torch

from fedhive.client.state import ClientState
from fedhive.client.update import ClientUpdate
from fedhive.config import EngineConfig
from fedhive.data.federated import ClientData, reported_work
from fedhive.engines.base import CohortResult
from fedhive.engines.exchange import Schema, balanced_slices, gather_rows, schema_of
from fedhive.engines.process_group import ProcessGroup
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.sharded_state import ShardedStateStore, owner
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.launch import launcher_gone
from fedhive.models.functional import FunctionalModel
from fedhive.reduction import LinearAggregate, ReducedUpdates


def client_work(dataset: ClientData, round: int, client_ids: Sequence[int]) -> list[float]:
    """Estimated work per client: its batch count (samples / batch size) when the dataset
    can tell it without drawing the data (`ReportsWork`), else the same for everyone."""
    work = reported_work(dataset, round, client_ids)
    return [1.0] * len(client_ids) if work is None else [float(w) for w in work]


class DistributedEngine:
    """Runs rank `rank`'s slice of each cohort with the local engine named by
    `config.local`, then all-reduces (linear aggregates) or all-gathers (the rest).

    `comm_s` is the time the last round spent in collectives (for the benchmark)."""

    def __init__(self, config: EngineConfig, device: torch.device | str = "cpu", rounds: int | None = None,
                 model: FunctionalModel | None = None):
        self.config = config
        self.device = torch.device(device)
        self.group = ProcessGroup(config, self.device)
        self.rank, self.world = self.group.rank, self.group.world
        local = config.model_copy(update={"name": config.local, "workers": 1})
        self.local = VectorizedEngine(local, rounds, model) if config.local == "vectorized" else SequentialEngine(local)
        self.comm_s = 0.0
        self._schema: Schema | None = None

    def slices(self, dataset, round: int, client_ids: Sequence[int], stateful: bool = False) -> list[list[int]]:
        """Cohort positions per rank, the same on every rank: balanced by work, or each
        client on the rank that holds its state."""
        if stateful:
            return [[i for i, c in enumerate(client_ids) if owner(c, self.world) == r] for r in range(self.world)]
        return balanced_slices(client_work(dataset, round, client_ids), self.world)

    def agree_stop(self, round: int, signum: int | None) -> int | None:
        """The stop signal of the lowest rank that received one, the same on every rank, so
        that one Ctrl-C, whichever rank gets it, stops all after the same round."""
        if signum is None and launcher_gone():
            signum = signal.SIGTERM
        got = self.group.all_gather(round, torch.tensor([signum or 0], device=self.device))
        return next((int(s) for s in got if int(s)), None)

    def state_store(self, init_state: Callable[[torch.Tensor], ClientState], params: torch.Tensor) -> ShardedStateStore:
        """Where client state lives in a distributed run: with the rank that owns the client."""
        return ShardedStateStore(init_state, params, self.group)

    def run(
        self,
        update: ClientUpdate,
        params: torch.Tensor,
        dataset,
        round: int,
        client_ids: Sequence[int],
        states: dict[str, torch.Tensor] | None = None,
        inputs: dict[str, torch.Tensor] | None = None,
        linear: LinearAggregate | None = None,
    ) -> CohortResult:
        """This rank's slice through the local engine, then the exchange; returns the whole
        cohort's result (updates as `ReducedUpdates` when the aggregate is `linear`)."""
        ids, states, inputs = [int(c) for c in client_ids], states or {}, inputs or {}
        slices = self.slices(dataset, round, ids, stateful=bool(states))
        mine = torch.tensor(slices[self.rank], dtype=torch.int64, device=params.device)
        pick = lambda d: {k: v[mine.to(v.device)] for k, v in d.items()}  # noqa: E731
        local = self.local.run(update, params, dataset, round, [ids[p] for p in slices[self.rank]], pick(states),
                               pick(inputs), linear)
        if linear is not None and not isinstance(local.updates, ReducedUpdates):
            local = local._replace(updates=linear.reduce(local.updates, local.weights))  # a local engine that keeps rows
        t0 = time.perf_counter()
        rows = self._rows(local)
        full = gather_rows(self.group, round, rows, slices, self.rank, self._agree_schema(round, rows), params.device)
        metrics = {k.removeprefix("metric/"): v for k, v in full.items() if k.startswith("metric/")}
        outputs = {k.removeprefix("output/"): v for k, v in full.items() if k.startswith("output/")}
        updates: torch.Tensor | ReducedUpdates
        if linear is None:
            updates = full["update"]
        else:  # partial sums of disjoint slices add up to the cohort's sum: one all_reduce of [P]
            assert isinstance(local.updates, ReducedUpdates)  # reduced above
            updates = ReducedUpdates(self.group.all_reduce(round, local.updates.total), full["finite"].bool())
        self.comm_s = time.perf_counter() - t0
        return CohortResult(updates, full["weight"], metrics, _own_rows(states, local.states, mine), outputs)

    def _rows(self, local: CohortResult) -> dict[str, torch.Tensor]:
        """What every rank needs of each client: weight, metrics, the per-round outputs
        the server reads (SCAFFOLD's `delta_c`), and the update itself or, when this rank
        already summed the updates, whether it was finite. Persistent state stays here."""
        rows = {"weight": local.weights}
        rows.update({f"output/{k}": v for k, v in local.outputs.items()})
        if isinstance(local.updates, ReducedUpdates):
            rows["finite"] = local.updates.finite.to(local.weights.dtype)
        else:
            rows["update"] = local.updates
        rows.update({f"metric/{k}": v for k, v in local.metrics.items()})
        return rows

    def _agree_schema(self, round: int, rows: dict[str, torch.Tensor]) -> Schema:
        """What each row holds. A rank with an empty slice cannot know the metric names, so
        the first round takes them from any rank that ran clients (one small exchange)."""
        if self._schema is None:
            mine = schema_of(rows) if len(rows["weight"]) else None
            known = [s for s in self.group.all_gather_object(round, mine) if s is not None]
            self._schema = known[0]
        elif len(rows["weight"]) and schema_of(rows) != self._schema:
            raise RuntimeError(f"round {round}: client results changed shape: {schema_of(rows)} != {self._schema}")
        return self._schema


def _own_rows(states: dict[str, torch.Tensor], new: dict[str, torch.Tensor], mine: torch.Tensor):
    """The cohort's states with this rank's rows replaced by their new values; the other
    rows are left as they came (their owners update them), so states never cross ranks."""
    out = {k: v.clone() for k, v in states.items()}
    for k, v in new.items():
        out[k][mine.to(v.device)] = v
    return out
