"""The default engine: a chunk of clients at a time in one `torch.func.vmap` call over
padded batches (one client at a time where `vmap_rule` says vmapping would be slower), or
one fused forward/backward where that is exact, with linear aggregates summed chunk by
chunk so memory stays O(chunk) instead of O(K·P)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

import torch
from torch.func import vmap

from fedhive import rng
from fedhive.client.state import ClientStateStore
from fedhive.client.update import ClientUpdate, CohortSum, FusedUpdate
from fedhive.config import EngineConfig
from fedhive.data.batches import Batches, Steps, packed, trim_steps
from fedhive.data.federated import ClientData, reported_work, unchanged_draw
from fedhive.engines.activations import activation_cap, saved_bytes_per_sample
from fedhive.engines.base import ClientError, CohortResult
from fedhive.engines.compiling import CompileRule
from fedhive.engines.prefetch import ahead, spare_core
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vmap_rule import chunk_steps, conv_macs, one_at_a_time, vmap_pays, vmapped_result
from fedhive.models.functional import FunctionalModel
from fedhive.reduction import LinearAggregate, ReducedUpdates

PROBE_CLIENTS = 8  # the first chunk's size when chunk_size must be derived from memory
# Working memory per client relative to its padded data (gradients, masks); a model's
# activations bound the vmapped chunks on their own (`activations.ACTIVATION_BUDGET`).
MEMORY_FACTOR = 8
MAX_PADDING = 0.25  # the largest share of padded steps a chunk may hold
# The most packed data a fused chunk holds. Beyond it a chunk saves no Python overhead,
# while its buffers (several times this) are handed back to the OS after every chunk and
# faulted in again: at K = 10,000 reference clients, 88 MB chunks spent as much time in
# page faults as in compute.
FUSED_CHUNK_BYTES = 32 * 2**20


class VectorizedEngine:
    """Runs any client update for many clients at once. Results equal the sequential
    engine's (to float rounding): padding steps carry a zero mask, so each client gets
    exactly its own update, and every per-client result comes back in client order.
    With the `model` the updates train, a vmapped chunk also holds no more clients than
    its activations allow (`activations.activation_cap`)."""

    rank = 0  # the only process: it writes the run folder

    def __init__(self, config: EngineConfig, rounds: int | None = None, model: FunctionalModel | None = None):
        self.config = config
        self.model = model
        self._bytes_per_client = 0.0
        self._activation_cap: int | None = None  # from shapes only: recomputed, not checkpointed
        self._vmapped: dict[int, Callable] = {}
        self._conv_macs: dict[int, int] = {}
        self._compile = CompileRule(config.compile, rounds)
        self._drawing = threading.Lock()  # held while a chunk's data is drawn (see `prefetch`)

    def state_store(self, init_state, params: torch.Tensor) -> ClientStateStore:
        """Client state lives in this process."""
        return ClientStateStore(init_state, params)

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
        """Run `update` for every client of the cohort. With `linear` (the server chain's
        linear aggregate) the updates come back reduced, never as `[K, P]` rows."""
        ids, states, inputs = list(client_ids), states or {}, inputs or {}
        fused = self._fused(update, linear)
        # Packed data for the fused path has no padding: it needs no ordering by work.
        order, work = (list(range(len(ids))), None) if fused else _by_work(dataset, round, ids)
        parts = []
        # Draw chunk i+1 on a second core while chunk i computes, where there is a next chunk.
        overlap = len(ids) > self._chunk_size(params, fused is not None) and spare_core()
        with ahead(self._chunks(dataset, round, ids, order, work, params, fused), self._drawing, overlap) as chunks:
            for positions, data in chunks:
                chunk = [ids[i] for i in positions]
                index = torch.tensor(positions, dtype=torch.int64, device=params.device)
                chunk_states = {k: v[index] for k, v in states.items()}
                chunk_inputs = {k: v[index] for k, v in inputs.items()}
                try:
                    parts.append(self._run_chunk(update, params, data, chunk_states, chunk_inputs, chunk, round,
                                                 linear, dataset))
                except Exception as e:
                    if self.config.fail_fast:
                        raise ClientError(
                            f"round {round + 1}, clients {chunk[0]}..{chunk[-1]}: client update failed: {e} "
                            "(engine.name=sequential names the client)"
                        ) from e
                    parts.append(self._one_by_one(update, params, dataset, round, chunk, chunk_states,
                                                  chunk_inputs, linear))
        return _in_client_order(_concat(parts, params, linear), order)

    def _one_by_one(self, update, params, dataset, round: int, chunk, states, inputs, linear) -> CohortResult:
        """A chunk that raised, rerun one client at a time so that only the failing
        clients are dropped (and counted), as the sequential engine does."""
        with self._drawing:  # the sequential engine draws from `dataset` too
            out = SequentialEngine(self.config).run(update, params, dataset, round, chunk, states, inputs)
        return out._replace(updates=linear.reduce(out.updates, out.weights) if linear is not None else out.updates)

    def state_dict(self) -> dict[str, float]:
        # The derived chunk size groups the cohort's sums, so it must survive a resume
        # for the resumed run to add in the same order, hence be bit-identical; so must
        # the compile decision (compiled and eager sums differ in their last bits).
        decided = self._compile.decided
        return {"bytes_per_client": self._bytes_per_client, "compiled": -1.0 if decided is None else float(decided)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self._bytes_per_client = float(state["bytes_per_client"])
        if state.get("compiled", -1.0) >= 0:
            self._compile.decided = bool(state["compiled"])

    def _fused(self, update, linear) -> CohortSum | None:
        """The update's fused cohort path, when it applies (a linear aggregate, engine.fused)."""
        if linear is None or not self.config.fused or not isinstance(update, FusedUpdate):
            return None
        return update.cohort_sum

    def _run_chunk(self, update, params, data: Batches | Steps, states, inputs, chunk, round, linear,
                   dataset) -> CohortResult:
        fused = self._fused(update, linear)
        if fused is not None:
            call, start = self._compile.pick(fused, round), time.perf_counter()
            total, weights, metrics = call(params, data, linear.coef)
            self._compile.spent(round, time.perf_counter() - start)
            # A non-finite sum hides which client broke: redo the chunk row by row below.
            if bool(torch.isfinite(total).all()):
                finite = torch.ones(len(chunk), dtype=torch.bool, device=total.device)
                return CohortResult(ReducedUpdates(total, finite), weights.to(params.dtype), metrics, states, {})
            with self._drawing:
                data = dataset.cohort_batches(round, chunk).to(params.device)
        assert isinstance(data, Batches)  # packed Steps only travel the fused path
        keys = torch.tensor([rng.client_key(round, c) for c in chunk], dtype=torch.int64, device=params.device)
        if self._vmap_pays(update, params, data, states, inputs, keys):
            if id(update) not in self._vmapped:
                self._vmapped[id(update)] = vmap(update, in_dims=(None, 0, 0, 0, 0))
            result = vmapped_result(self._vmapped[id(update)](params, data, states, inputs, keys), params.dtype)
        else:
            result = one_at_a_time(update, params, data, states, inputs, keys)
        rows = linear.reduce(result.updates, result.weights) if linear is not None else result.updates
        return result._replace(updates=rows)

    def _vmap_pays(self, update, params, data: Batches, states, inputs, keys) -> bool:
        """`vmap_rule.vmap_pays` for this chunk; the update's convolution cost is found
        once, and only on a CPU (where grouped convolutions are the slower kernels)."""
        steps, padded = chunk_steps(data)
        if not vmap_pays(steps, padded):
            return False
        if id(update) not in self._conv_macs:
            self._conv_macs[id(update)] = (conv_macs(update, params, data, states, inputs, keys)
                                           if params.device.type == "cpu" else 0)
        return vmap_pays(steps, padded, self._conv_macs[id(update)])

    def _chunks(self, dataset, round: int, ids: list[int], order: list[int], work: list[int] | None,
                params, fused) -> Iterator[tuple[list[int], Batches | Steps]]:
        """(cohort positions, data) per chunk, taking clients in `order`: packed `Steps`
        for the fused path, padded `Batches` for the vmapped one."""
        lo = 0
        while lo < len(order):
            positions = _similar_work(order[lo : lo + self._chunk_size(params, fused is not None)], work)
            chunk = [ids[i] for i in positions]
            data = (cohort_steps(dataset, round, chunk) if fused else dataset.cohort_batches(round, chunk))
            data = data.to(params.device)
            if isinstance(data, Batches) and self._activation_cap is None:
                positions, data = self._capped(positions, data, params)
            nbytes = data.nbytes if isinstance(data, Steps) else sum(t.nbytes for t in data)
            per_client = nbytes / len(positions) + 4 * params.nbytes
            self._bytes_per_client = max(self._bytes_per_client, per_client)
            yield positions, data
            lo += len(positions)

    def _chunk_size(self, params: torch.Tensor, fused: bool) -> int:
        if self.config.chunk_size is not None:
            return self.config.chunk_size
        if not self._bytes_per_client:
            return PROBE_CLIENTS
        budget = self.config.max_memory_mb * 2**20
        size = int(budget // (MEMORY_FACTOR * self._bytes_per_client))
        if fused:
            size = min(size, int(FUSED_CHUNK_BYTES // self._bytes_per_client))
        elif self._activation_cap is not None:
            size = min(size, self._activation_cap)
        return max(1, size)

    def _capped(self, positions: list[int], data: Batches, params: torch.Tensor) -> tuple[list[int], Batches]:
        """The first vmapped chunk, drawn before the activation cap was known: the cap
        found from it, and its head within the cap. Chunks are not capped without a model,
        with one that is not what `params` parametrize (a caller swapped the experiment's
        model after building it), or when `engine.chunk_size` is set (taken as given)."""
        if self.model is None or self.model.num_params != params.numel() or self.config.chunk_size is not None:
            return positions, data
        self._activation_cap = activation_cap(saved_bytes_per_sample(self.model, params, data), data.mask.shape[-1])
        positions = positions[: self._activation_cap]
        return positions, trim_steps(Batches(*(t[: len(positions)] for t in data)))


def cohort_steps(dataset: ClientData, round: int, ids: list[int]) -> Steps:
    """The clients' data packed without padding steps: drawn that way when the dataset
    can (`DrawsSteps`), else its padded batches with the padding steps removed."""
    draw = packed_draw(dataset)
    return draw(round, ids) if draw is not None else packed(dataset.cohort_batches(round, ids))


def packed_draw(dataset: ClientData) -> Callable | None:
    """The dataset's own `cohort_steps` (`DrawsSteps`), unless a subclass changed its
    batches (`unchanged_draw`): those are packed instead."""
    return unchanged_draw(dataset, "cohort_steps")


def _by_work(dataset: ClientData, round: int, ids: list[int]) -> tuple[list[int], list[int] | None]:
    """Cohort positions sorted (stably) by the dataset's work per client, if it says
    (`ReportsWork`), so chunks hold clients of similar length and padding is small;
    partial sums are then added in this fixed order, so a run stays reproducible bit for
    bit. Also the work."""
    steps = reported_work(dataset, round, ids) if len(ids) >= 2 else None
    if steps is None:
        return list(range(len(ids))), None
    return sorted(range(len(ids)), key=steps.__getitem__), steps


def _similar_work(positions: list[int], work: list[int] | None) -> list[int]:
    """The longest head of `positions` (sorted by work) whose padding to its largest
    client stays within MAX_PADDING of its steps; a client far above the others (an
    outlier) thus runs in a chunk of its own rather than padding everyone to its length."""
    if work is None:
        return positions
    total = 0
    for n, p in enumerate(positions):
        total += work[p]
        if n and work[p] * (n + 1) - total > MAX_PADDING * work[p] * (n + 1):
            return positions[:n]
    return positions


def _in_client_order(result: CohortResult, order: list[int]) -> CohortResult:
    """Undo the work ordering: every per-client row back at its client's position."""
    if order == sorted(order):
        return result
    inverse = torch.empty(len(order), dtype=torch.int64)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    inverse = inverse.to(result.weights.device)
    updates = result.updates
    if isinstance(updates, ReducedUpdates):
        updates = ReducedUpdates(updates.total, updates.finite[inverse])
    else:
        updates = updates[inverse]
    pick = lambda d: {k: v[inverse] for k, v in d.items()}  # noqa: E731
    return CohortResult(updates, result.weights[inverse], pick(result.metrics), pick(result.states),
                        pick(result.outputs))


def _concat(parts: list[CohortResult], params: torch.Tensor, linear: LinearAggregate | None) -> CohortResult:
    """One CohortResult from per-chunk results; partial sums are added in chunk order."""
    if not parts:
        empty = params.new_zeros(0, params.numel())
        updates = linear.reduce(empty, params.new_zeros(0)) if linear is not None else empty
        return CohortResult(updates, params.new_zeros(0), {}, {}, {})
    if linear is not None:  # every chunk ran under the linear aggregate, so was reduced
        reduced = [cast(ReducedUpdates, p.updates) for p in parts]
        total = reduced[0].total
        for r in reduced[1:]:
            total = total + r.total
        updates = ReducedUpdates(total, torch.cat([r.finite for r in reduced]))
    else:
        updates = torch.cat([cast(torch.Tensor, p.updates) for p in parts])
    # Keys every chunk has: a chunk whose clients all failed has no metrics to give.
    cat = lambda name: {  # noqa: E731
        k: torch.cat([getattr(p, name)[k] for p in parts]) for k in getattr(parts[0], name)
        if all(k in getattr(p, name) for p in parts)
    }
    return CohortResult(updates, torch.cat([p.weights for p in parts]), cat("metrics"), cat("states"),
                        cat("outputs"))
