"""Synchronous rounds under heterogeneity: who is available, who drops, who misses the
deadline, and how much work each counted client does — decided before any training, so
clients whose work does not count cost no compute."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from fedhive import rng
from fedhive.client.state import EPOCHS_INPUT
from fedhive.config import Config, SystemConfig
from fedhive.system.budget import BudgetedData, step_samples
from fedhive.system.devices import Devices
from fedhive.system.sampling import sample_without_replacement
from fedhive.system.work import local_epochs, samples_processed

OUTCOMES = ("selected", "unavailable", "dropped_out", "deadline_dropped", "partial", "completed", "unused")


class RoundPlan(NamedTuple):
    """The clients to train (cohort order), the data view that enforces their step
    budgets, whether the server steps, the round's clock and outcome metrics, and
    per-client inputs `{name: [K]}` for the client update (the local epochs each runs)."""

    clients: list[int]
    data: Any
    step: bool
    metrics: dict[str, float]
    inputs: dict[str, torch.Tensor] = {}


class Homogeneous:
    """No system model: every sampled client trains fully; no clock columns."""

    def plan(self, round: int, cohort: list[int], dataset) -> RoundPlan:
        return RoundPlan(cohort, dataset, True, {})

    def state_dict(self) -> dict[str, float]:
        return {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        pass


def prefix_within(per_step: torch.Tensor, limit: float) -> int:
    """The most leading steps whose samples sum to at most `limit` (float tolerance)."""
    cum = per_step.double().cumsum(0)
    return int((cum <= limit * (1 + 1e-12)).sum())


class SyncSystem:
    """Plans each synchronous round on the simulated clock (`sim_time` seconds so far)."""

    def __init__(self, config: Config, num_clients: int, payload: tuple[int, int]):
        self.config, self.round_cfg = config, config.round
        self.system: SystemConfig = config.system or SystemConfig()
        self.devices = Devices(self.system, num_clients, config.seed)
        self.num_clients, (self.down, self.up) = num_clients, payload
        self.epochs = local_epochs(config)
        self.sim_time = 0.0

    def overcommit(self, round: int, cohort: list[int]) -> list[int]:
        """The cohort plus ceil(overcommit·K) − K further distinct clients."""
        extra = min(math.ceil(self.round_cfg.overcommit * len(cohort) - 1e-9), self.num_clients) - len(cohort)
        if extra <= 0:
            return list(cohort)
        g = rng.generator(self.config.seed, round, rng.GLOBAL, "system-overcommit")
        # K + extra distinct draws hold at least `extra` clients outside the cohort.
        draws = sample_without_replacement(self.num_clients, len(cohort) + extra, g).tolist()
        taken = set(cohort)
        return list(cohort) + [c for c in draws if c not in taken][:extra]

    def available_only(self, round: int, selected: list[int], t0: float) -> tuple[list[int], int]:
        """Only available clients take part: each unavailable one is replaced by the next
        available client in a keyed random order of the others. Returns the participants
        and how many clients were found unavailable (0 extra draws when all are online)."""
        dev = self.devices
        available = [c for c in selected if dev.available(c, round, t0)]
        unavailable, taken = len(selected) - len(available), set(selected)
        attempt = 0
        while len(available) < len(selected) and len(taken) < self.num_clients:
            g = rng.generator(self.config.seed, round, attempt, "system-replace")
            want = min(self.num_clients, len(taken) + 4 * (len(selected) - len(available)))
            for c in sample_without_replacement(self.num_clients, want, g).tolist():
                if c in taken or len(available) == len(selected):
                    continue
                taken.add(c)
                if dev.available(c, round, t0):
                    available.append(c)
                else:
                    unavailable += 1
            attempt += 1
        return available, unavailable

    def stragglers(self, round: int, selected: list[int]) -> dict[int, int]:
        """FedProx-paper stragglers (Li et al. 2020, section 5.2): client -> the local epochs
        e ~ randint(min_epochs, E) it can run, E excluded when `exclude_full` (as the
        reference code's numpy randint). Keyed by (seed, round, client), so the same
        clients straggle, with the same e, whatever the algorithm, policy or engine."""
        st, epochs = self.system.stragglers, self.epochs
        n = round_half_up(st.fraction * len(selected))
        if n == 0:
            return {}
        g = rng.generator(self.config.seed, round, rng.GLOBAL, "system-stragglers")
        chosen = [selected[i] for i in torch.randperm(len(selected), generator=g)[:n].tolist()]
        low = min(st.min_epochs, epochs)
        high = max(low, epochs - 1) if st.exclude_full else epochs
        out = {}
        for c in chosen:
            gc = rng.generator(self.config.seed, round, c, "system-straggler-epochs")
            out[c] = int(torch.randint(low, high + 1, (), generator=gc))
        return out

    def plan(self, round: int, cohort: list[int], dataset) -> RoundPlan:
        t0, rc, dev = self.sim_time, self.round_cfg, self.devices
        selected = self.overcommit(round, cohort)
        count = dict.fromkeys(OUTCOMES, 0)
        count["selected"] = len(selected)
        available, count["unavailable"] = self.available_only(round, selected, t0)
        drawn = [c for c in available if not dev.drops_out(c, round)]
        per_step, cached = step_samples(dataset, round, drawn)
        work = dict(zip(drawn, per_step))
        done = dict(zip(drawn, samples_processed(self.config, per_step).tolist()))
        times = {c: dev.task_time(c, round, done[c], self.down, self.up) for c in drawn}
        active = [c for c in drawn if t0 + times[c].total <= dev.online_until(c, t0)]
        count["dropped_out"] = len(available) - len(active)
        kept = sorted(active, key=lambda c: (times[c].total, c))[: len(cohort)]
        count["unused"] = len(active) - len(kept)
        budgets, passes, arrivals = self._apply_limits(kept, self.stragglers(round, available), work, times, count)
        train = [c for c in available if c in arrivals]
        # The server waits out the deadline when someone misses it or nobody reports.
        waits = count["deadline_dropped"] + count["partial"] > 0 or not arrivals
        round_time = rc.deadline if waits and rc.deadline else max(arrivals.values(), default=0.0)
        self.sim_time = t0 + round_time
        step = len(train) >= rc.min_completion
        metrics = {"sim_time": self.sim_time, "round_time": round_time, **count, "skipped_step": int(not step)}
        data = BudgetedData(dataset, budgets, (round, drawn, cached) if cached is not None else None)
        inputs = {}
        if self.round_cfg.straggler_policy == "fedprox_epochs" and step:
            inputs[EPOCHS_INPUT] = torch.tensor([passes.get(c, self.epochs) for c in train], dtype=torch.long)
        return RoundPlan(train if step else [], data, step, metrics, inputs)

    def _apply_limits(self, kept, epochs, work, times, count):
        """Deadline and FedProx stragglers: each kept client completes, does part of its
        work, or is dropped. The share of its E epochs' work a client can do is e/E for a
        straggler, cut further by the deadline. `partial` keeps the leading steps of every
        pass that fit (a step budget); `fedprox_epochs` keeps the whole passes that fit
        (at least one, else dropped); `drop` keeps nothing. Returns (step budgets, passes,
        arrival times)."""
        policy, deadline, full = self.round_cfg.straggler_policy, self.round_cfg.deadline, self.epochs
        budgets: dict[int, int] = {}
        passes: dict[int, int] = {}
        arrivals: dict[int, float] = {}
        for c in kept:
            t, total = times[c], float(work[c].sum())
            share = epochs.get(c, full) / full
            comm = t.download + t.upload
            if deadline is not None and comm + t.compute * share > deadline:
                share = min(share, (deadline - comm) / t.compute if t.compute > 0 else 0.0)
            if share >= 1.0:
                arrivals[c] = times[c].total
                count["completed"] += 1
                continue
            if policy == "partial":
                n = prefix_within(work[c], share * total)
                done, into = (float(work[c][:n].sum()) / total if n else 0.0), budgets
            else:
                n = math.floor(share * full + 1e-9) if policy == "fedprox_epochs" else 0
                done, into = n / full, passes
            if n == 0:
                count["deadline_dropped"] += 1
                continue
            into[c] = n
            arrivals[c] = comm + t.compute * done
            count["partial"] += 1
        return budgets, passes, arrivals

    def state_dict(self) -> dict[str, float]:
        return {"sim_time": self.sim_time}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.sim_time = float(state["sim_time"])


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def build_system(config: Config, num_clients: int, payload: tuple[int, int]):
    """The sync system model when the config asks for one, else Homogeneous (async runs
    keep their own clock)."""
    if config.mode == "async" or (config.system is None and config.round == type(config.round)()):
        return Homogeneous()
    return SyncSystem(config, num_clients, payload)
