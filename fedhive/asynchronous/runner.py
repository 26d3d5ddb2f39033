"""Asynchronous training on the simulated clock: FedBuff, and FedAsync as buffer size 1.

Clients start from the model version current when they start and arrive after their
task time; after every `buffer_size` arrivals the buffer, each update scaled by its
staleness weight, is the cohort of the same server step a sync round takes
(fedhive/server/step.py). Training is lazy: a started client is trained only when the first still
untrained client must arrive, together with every other started one, in one stacked
vmap across model versions. A client's update depends only on its start version, its
data and its key, so when it is computed does not change it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from fedhive import rng
from fedhive.asynchronous.events import ARRIVE, LOST, START, EventQueue
from fedhive.asynchronous.staleness import example_weight, staleness_weight
from fedhive.asynchronous.tasks import CandidateStream, Task, train_tasks
from fedhive.config import SystemConfig
from fedhive.errors import UserError
from fedhive.server.chain import RoundContext
from fedhive.server.step import Cohort
from fedhive.system.devices import Devices
from fedhive.system.distributions import keyed_uniform
from fedhive.system.work import payload_bytes, samples_processed

COUNTERS = ("stale_dropped", "lost", "unavailable", "updates")
OUTPUT = "output."  # prefix of the per-round outputs (FedNova's step counts) kept with each result
# A trained client's result: its batch's tensors, {name: [N, ...]}, and its row in them.
Result = tuple[dict[str, torch.Tensor], int]


class AsyncRunner:
    """The scheduler of `mode: async`: `next_cohort()` runs events up to the next server
    step and returns the buffer as its cohort. `state_dict()` holds everything a resume needs."""

    def __init__(self, exp):
        self.exp, self.cfg = exp, exp.config.asynchronous
        self.devices = Devices(exp.config.system or SystemConfig(), exp.dataset.num_clients, exp.config.seed)
        self.down, self.up = payload_bytes(exp.config, exp.params)
        self.stream = CandidateStream(exp.sampler, exp.train_data, lambda per_step: samples_processed(exp.config, per_step))
        self.queue = EventQueue()
        self.sim_time, self.version, self.next_task, self.starts = 0.0, 0, 0, 0
        self.tasks: dict[int, Task] = {}
        self.busy: set[int] = set()
        self.untrained: list[int] = []
        self.inputs: dict[int, dict[str, torch.Tensor]] = {}  # of untrained tasks
        self.results: dict[int, Result] = {}
        self.buffer: list[tuple[int, int, Result]] = []  # (task, staleness, result)
        self.ring = {0: exp.params}
        self.counts = dict.fromkeys(COUNTERS, 0)
        if self.cfg.arrival_rate is None:
            for _ in range(self.cfg.concurrency):
                self.queue.push(0.0, START, -1, -1)
        else:
            self.queue.push(0.0, START, -1, -1)

    # -- events ---------------------------------------------------------------------------

    def next_cohort(self) -> Cohort:
        """Process events until the buffer is full; the buffer is the server step's cohort."""
        while len(self.buffer) < self.cfg.buffer_size:
            if not len(self.queue):
                raise UserError("asynchronous: no client left in flight or due to start (arrival_rate too low?)")
            ev = self.queue.pop()
            self.sim_time = ev.time
            {START: self._start, ARRIVE: self._arrive, LOST: self._lost}[ev.kind](ev)
        return self._buffered_cohort()

    def _start(self, ev) -> None:
        t = ev.time
        if self.cfg.arrival_rate is not None:  # open loop: the next Poisson start
            u = keyed_uniform(self.exp.config.seed, self.starts, rng.GLOBAL, "async-arrival")
            gap = -math.log(u) / self.cfg.arrival_rate
            self.queue.push(t + gap, START, -1, -1)
        self.starts += 1
        for _ in range(min(100 * self.exp.dataset.num_clients, 10**6)):
            client, draw, samples = self.stream.next()
            if client in self.busy:
                continue
            if self.devices.available(client, draw, t):
                break
            self.counts["unavailable"] += 1
        else:
            raise UserError(f"system.availability: no client is available to start at simulated time {t:.1f} s")
        task_id, self.next_task = self.next_task, self.next_task + 1
        self.tasks[task_id] = Task(client, draw, self.version, t)
        self.busy.add(client)
        end = t + self.devices.task_time(client, draw, samples, self.down, self.up).total
        offline = self.devices.online_until(client, t)
        if self.devices.drops_out(client, draw) or offline < end:
            self.queue.push(min(end, offline), LOST, client, task_id)
            return
        # Per-round client inputs (an attack's choice of clients, the lr...) as of the start version.
        inputs = self.exp.client_inputs(draw, [client], self.version)
        if inputs:
            self.inputs[task_id] = inputs
        self.untrained.append(task_id)
        self.queue.push(end, ARRIVE, client, task_id)

    def _finish(self, ev) -> None:
        self.busy.discard(self.tasks.pop(ev.task).client)
        if self.cfg.arrival_rate is None:  # closed loop: a new client takes the free slot
            self.queue.push(ev.time, START, -1, -1)

    def _lost(self, ev) -> None:
        self.counts["lost"] += 1
        self._finish(ev)

    def _arrive(self, ev) -> None:
        if ev.task not in self.results:
            self.train_pending()
        result = self.results.pop(ev.task)
        staleness = self.version - self.tasks[ev.task].version
        self.counts["updates"] += 1
        if self.cfg.max_staleness is not None and staleness > self.cfg.max_staleness:
            self.counts["stale_dropped"] += 1
        else:
            self.buffer.append((ev.task, staleness, result))
        self._finish(ev)

    def train_pending(self) -> None:
        """Train every started, untrained client now, all versions in one batch."""
        if not self.untrained:
            return
        ids = self.untrained
        tasks = [self.tasks[i] for i in ids]
        inputs = [self.inputs.pop(i, {}) for i in ids]
        out = train_tasks(self.exp, self.stream, tasks, inputs, self.ring, self.cfg.stacked, self.cfg.chunk_size)
        # Rows stay in the batch's tensors until the server step gathers them: indexing
        # thousands of rows one by one costs more than training a small model.
        assert isinstance(out.updates, torch.Tensor)  # train_tasks returns rows: no linear aggregate
        batch = {"update": out.updates, "weight": out.weights, "loss": out.metrics["loss"],
                 **{OUTPUT + k: v for k, v in out.outputs.items()}}
        for row, i in enumerate(ids):
            self.results[i] = (batch, row)
        self.untrained = []
        self.stream.release(self.stream.draw)
        self._prune_ring()

    def _prune_ring(self) -> None:
        """Keep only the current version and those untrained clients start from."""
        keep = {self.version} | {self.tasks[i].version for i in self.untrained}
        self.ring = {v: p for v, p in self.ring.items() if v in keep}

    # -- the server -----------------------------------------------------------------------

    def _buffered_cohort(self) -> Cohort:
        exp = self.exp
        buf = sorted(self.buffer, key=lambda b: b[0])  # start order: sums ignore arrival ties
        self.buffer = []
        stale = torch.tensor([s for _, s, _ in buf])
        rows = gather_rows([r for _, _, r in buf])
        samples = rows["weight"]
        scale = staleness_weight(self.cfg, stale).to(exp.params.dtype)
        # The clients' per-round outputs (FedNova's step counts, ...) are what server halves read.
        outputs = {k.removeprefix(OUTPUT): v for k, v in rows.items() if k.startswith(OUTPUT)}
        ctx = RoundContext(round=self.version, params=exp.params, weights=example_weight(self.cfg, samples),
                           seed=exp.config.seed, outputs=outputs)

        def finish() -> dict[str, Any]:
            self.version += 1
            self.ring[self.version] = exp.params
            self._prune_ring()
            losses = rows["loss"]
            row: dict[str, Any] = {
                "round": self.version,
                "train_loss": float((losses * samples).sum() / samples.sum()),
                "clients": len(buf),
                "samples": int(samples.sum()),
                **ctx.metrics,
                "sim_time": self.sim_time,
                "staleness_mean": float(stale.double().mean()),
                "staleness_max": int(stale.max()),
                "concurrency": len(self.tasks),
                **self.counts,
                "versions_held": len(self.ring),
            }
            self.counts.update({k: 0 for k in COUNTERS if k != "updates"})
            return row

        return Cohort(rows["update"] * scale.unsqueeze(1), ctx, finish, f"server step {self.version + 1}", "skipped",
                      mixing_rate=self.cfg.mixing_rate)

    # -- checkpoint -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Event queue, tasks in flight, their computed updates, buffer and version ring.
        Pending clients are trained first, so a run that checkpoints and its resume
        batch their training identically."""
        self.train_pending()
        return {
            "sim_time": self.sim_time, "version": self.version, "next_task": self.next_task,
            "starts": self.starts, "queue": self.queue.state_dict(),
            "tasks": {i: tuple(t) for i, t in self.tasks.items()},
            "results": {i: _own_row(r) for i, r in self.results.items()},
            "buffer": [(i, s, _own_row(r)) for i, s, r in self.buffer],
            "ring": dict(self.ring), "counts": dict(self.counts),
            "stream": self.stream.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim_time, self.version = state["sim_time"], state["version"]
        self.next_task, self.starts = state["next_task"], state["starts"]
        self.queue.load_state_dict(state["queue"])
        self.tasks = {int(i): Task(*t) for i, t in state["tasks"].items()}
        self.busy = {t.client for t in self.tasks.values()}
        self.results = dict(state["results"])
        self.buffer = list(state["buffer"])
        self.ring = dict(state["ring"])
        self.counts = dict(state["counts"])
        self.untrained = []
        self.stream.load_state_dict(state["stream"])
        self.exp.round = self.version


def _own_row(result) -> tuple[dict[str, torch.Tensor], int]:
    """A result row copied out of its batch, so a checkpoint holds only what is pending."""
    batch, row = result
    return {k: v[row : row + 1].clone() for k, v in batch.items()}, 0


def gather_rows(results: list) -> dict[str, torch.Tensor]:
    """Stack `(batch, row)` results in order with one index_select per batch."""
    groups: dict[int, tuple[dict, list[int], list[int]]] = {}
    for pos, (batch, row) in enumerate(results):
        _, rows, where = groups.setdefault(id(batch), (batch, [], []))
        rows.append(row)
        where.append(pos)
    order = torch.tensor([p for _, _, where in groups.values() for p in where])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    out = {}
    for name in results[0][0]:
        parts = [b[name].index_select(0, torch.tensor(rows)) for b, rows, _ in groups.values()]
        out[name] = torch.cat(parts).index_select(0, inverse)
    return out
