"""Where asynchronous clients come from, and training the ones that have started."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from fedhive.data.batches import Batches, concat_batches, trim_steps
from fedhive.engines.base import CohortResult
from fedhive.engines.stacked import run_stacked
from fedhive.server.chain import finite_rows
from fedhive.server.step import kept_states
from fedhive.system.budget import step_samples


class Task(NamedTuple):
    """One client's asynchronous task: it trains on draw `draw`'s data from `version`."""

    client: int
    draw: int
    version: int
    start: float


class CandidateStream:
    """Clients in the order the cohort sampler draws them: draw 0's cohort, then draw 1's,
    ... A task's data is keyed by its draw, as a sync round's data is keyed by the round,
    so with equal speeds and concurrency = buffer = K the tasks are exactly sync's cohorts."""

    def __init__(self, sampler: Callable[[int], torch.Tensor], dataset,
                 work: Callable[[torch.Tensor], torch.Tensor]):
        self.sampler, self.dataset, self.work = sampler, dataset, work
        self.draw, self.pos = -1, 0
        self.clients: list[int] = []
        self.samples: list[float] = []
        self._data: dict[int, tuple[dict[int, int], Batches | None]] = {}  # draw -> (row of client, data)

    def next(self) -> tuple[int, int, float]:
        """(client, draw, samples it will process) of the next candidate."""
        while self.pos >= len(self.clients):
            self._load(self.draw + 1)
            self.pos = 0
        i = self.pos
        self.pos += 1
        return self.clients[i], self.draw, self.samples[i]

    def _load(self, draw: int) -> None:
        self.draw = draw
        self.clients = self.sampler(draw).tolist()
        per_step, data = step_samples(self.dataset, draw, self.clients)
        self.samples = self.work(per_step).tolist()
        self._data[draw] = ({c: i for i, c in enumerate(self.clients)}, data)

    def batches(self, draw: int, clients: list[int]) -> Batches:
        """The clients' data for `draw`, kept from counting their work when it could be."""
        rows, data = self._data.get(draw, ({}, None))
        if data is None:
            return self.dataset.cohort_batches(draw, clients)
        idx = torch.tensor([rows[c] for c in clients], dtype=torch.long)
        return trim_steps(Batches(*(t.index_select(0, idx) for t in data)))

    def release(self, oldest: int) -> None:
        """Forget the data of draws before `oldest` (no untrained task uses them)."""
        for d in [d for d in self._data if d < oldest]:
            del self._data[d]

    def state_dict(self) -> dict[str, int]:
        return {"draw": self.draw, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["draw"] >= 0:
            self._load(state["draw"])
        self.pos = state["pos"]


def train_tasks(exp, stream: CandidateStream, tasks: list[Task], inputs: list[dict[str, torch.Tensor]],
                ring: dict[int, torch.Tensor], stacked: bool, chunk: int) -> CohortResult:
    """Run the client update for `tasks` (any mix of versions and draws); rows in task order.
    `inputs` are the algorithm's per-round client inputs taken at each start. `stacked`
    runs them all in one chunked vmap; otherwise the experiment's engine runs each
    (version, draw) group, as a sync round would."""
    ids = [t.client for t in tasks]
    states = exp.client_states.gather(ids)
    # The algorithm's per-round inputs, taken when each client started.
    cohort_inputs = {k: torch.cat([x[k] for x in inputs]) for k in inputs[0]} if any(inputs) else {}
    update = exp.algorithm.client_update
    if stacked:
        draws = sorted({t.draw for t in tasks})
        groups = {d: [i for i, t in enumerate(tasks) if t.draw == d] for d in draws}
        data = concat_batches([stream.batches(d, [ids[i] for i in groups[d]]) for d in draws])
        order = torch.tensor([i for d in draws for i in groups[d]], dtype=torch.long)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order))
        data = Batches(*(t.index_select(0, inverse) for t in data))
        params = torch.stack([ring[t.version] for t in tasks])
        out = run_stacked(update, params, data, states, cohort_inputs, torch.tensor(ids), chunk)
    else:
        out = _train_grouped(exp, tasks, ring, states, cohort_inputs)
    # As in a sync round, a client whose update is not finite keeps its old state.
    exp.client_states.scatter(ids, kept_states(states, out.states, finite_rows(out.updates)))
    return out


def _train_grouped(exp, tasks, ring, states, inputs) -> CohortResult:
    keys = sorted({(t.version, t.draw) for t in tasks})
    rows = {k: [i for i, t in enumerate(tasks) if (t.version, t.draw) == k] for k in keys}
    parts = []
    for v, d in keys:
        idx = torch.tensor(rows[(v, d)])
        sub = lambda rows: {k: s.index_select(0, idx) for k, s in rows.items()}  # noqa: E731
        parts.append(exp.engine.run(exp.algorithm.client_update, ring[v], exp.train_data, d,
                                    [tasks[i].client for i in rows[(v, d)]], sub(states), sub(inputs)))
    order = torch.tensor([i for k in keys for i in rows[k]], dtype=torch.long)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    cat = lambda xs: torch.cat(xs).index_select(0, inverse)  # noqa: E731
    return CohortResult(
        cat([p.updates for p in parts]), cat([p.weights for p in parts]),
        {k: cat([p.metrics[k] for p in parts]) for k in parts[0].metrics},
        {k: cat([p.states[k] for p in parts]) for k in parts[0].states},
        {k: cat([p.outputs[k] for p in parts]) for k in parts[0].outputs},
    )
