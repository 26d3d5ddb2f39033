"""Builds an experiment's parts from a config and runs the round loop."""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from fedhive.algorithms import build_algorithm
from fedhive.asynchronous import AsyncRunner
from fedhive.client.state import LR_INPUT
from fedhive.config import Config
from fedhive.config.lr_schedule import build_schedule
from fedhive.data.build import build_dataset
from fedhive.data.describe import describe_into
from fedhive.data.federated import ClientData
from fedhive.data.leading import leading_steps
from fedhive.engines.base import AgreesStop, CohortResult
from fedhive.engines.build import build_engine, client_state_store, is_leader
from fedhive.engines.threads import use_threads
from fedhive.errors import FedhiveWarning, RunError, RunStopped, UserError
from fedhive.evaluation import ClientEvaluator, global_test
from fedhive.models.registry import build_model
from fedhive.preflight import check_model
from fedhive.run_folder.checkpoint import Checkpointer, Stateful, config_hash
from fedhive.run_folder.early_stop import should_stop
from fedhive.run_folder.progress import RoundProgress
from fedhive.run_folder.recorder import Recorder, new_run_dir
from fedhive.run_folder.stopping import GracefulStop
from fedhive.server.chain import RoundContext, finite_rows
from fedhive.server.step import Cohort, kept_states, server_step
from fedhive.system import build_system
from fedhive.system.sampling import build_sampler
from fedhive.system.work import payload_bytes


class Experiment:
    """One federated experiment: `Experiment(config).run()` returns the metrics history.
    `dataset` (e.g. from `fedhive.data.from_arrays`) replaces the one `config.data` names."""

    def __init__(self, config: Config, dataset: ClientData | None = None):
        self.config = config
        self.device = torch.device(config.device)
        check_device(self.device)
        self.dataset = dataset if dataset is not None else build_dataset(config.data, config.seed)
        if config.cohort.max > self.dataset.num_clients:
            raise UserError(f"cohort.max ({config.cohort.max}) is larger than the dataset's "
                            f"{self.dataset.num_clients} clients")
        self.model = build_model(config.model, self.dataset.input_shape, config.seed, self.dataset.num_classes)
        self.algorithm = build_algorithm(config, self.model, self.dataset.num_classes)
        self.client_lr = build_schedule(config.client.lr_schedule, config.client.lr)
        # The engine first: a distributed one picks this rank's GPU before anything moves there.
        self.engine = build_engine(config.engine, self.device, config.rounds, self.model)
        use_threads(config.engine, self.model.num_params, self.device)
        self.model.module.to(self.device)
        self.sampler = build_sampler(config.cohort, self.dataset.num_clients, config.seed)
        self.params = self.model.initial_params().to(self.device)
        check_model(self.model, self.params, self.dataset, config.model.name)
        self.server_state = self.algorithm.server.init(self.params)
        self.client_states = client_state_store(self.engine, self.algorithm.client_init, self.params)
        self.system = build_system(config, self.dataset.num_clients, payload_bytes(config, self.params))
        self.client_eval = ClientEvaluator(config.evaluation, self.model, self.dataset, self.algorithm.personal,
                                           self.client_states)
        self.round = 0
        self.empty_rounds = 0  # consecutive skipped rounds
        self.skip_reasons: list[str] = []  # why the latest rounds were skipped, for the stop message
        self.asynchronous = AsyncRunner(self) if config.mode == "async" else None
        self.history: list[dict[str, Any]] = []
        self.run_dir: Path | None = None
        # Draws the run folder's plots (reports.plots.plot_rows when None); the CLI passes
        # a helper process's (reports.plot_process), which imported matplotlib meanwhile.
        self.plot_rows: Callable[..., list[Path]] | None = None

    @property
    def train_data(self) -> ClientData:
        """What clients train on: with client.steps, only the batches they take are drawn."""
        return leading_steps(self.dataset, self.algorithm.steps)

    def step(self) -> dict[str, Any]:
        """Run one round (async: one server step), evaluate, and return its metrics row."""
        t0 = time.perf_counter()
        row = self.take_step(self.asynchronous.next_cohort() if self.asynchronous is not None else self.sync_cohort())
        if self.client_lr is not None:
            row["client_lr"] = self.client_lr(self.round - 1)
        row.update(self.evaluate(self.round - 1) if self._eval_due() else {"test_loss": None, "test_accuracy": None})
        row["round_s"] = time.perf_counter() - t0
        return row

    def take_step(self, cohort: Cohort) -> dict[str, Any]:
        """The one server step on a scheduler's cohort (a sync round or an async buffer);
        a skipped step (none usable, too few arrived, a non-finite model) is warned."""
        result = server_step(self.algorithm.server, self.params, self.server_state, cohort.updates, cohort.ctx,
                             cohort.mixing_rate, cohort.not_ready)
        if result.committed:
            self.params, self.server_state, self.empty_rounds = result.params, result.server_state, 0
            cohort.commit()
        else:
            assert result.reason is not None  # server_step names why whenever it does not commit
            self.skip_round(result.reason)
            warnings.warn(f"{cohort.label}: {result.reason}; {cohort.skipped}, model unchanged", FedhiveWarning)
        self.round += 1
        return cohort.finish()

    def sync_cohort(self) -> Cohort:
        """A sync round's cohort: sample, plan under the system model, train the clients
        whose work counts. Failed or non-finite updates are dropped (their clients keep
        their state); the round is skipped if too few clients arrived."""
        r = self.round
        plan = self.system.plan(r, self.sampler(r).tolist(), self.train_data)
        ids = plan.clients
        states = self.client_states.gather(ids)
        inputs = self.client_inputs(r, ids, r)
        inputs.update({k: v.to(self.params.device) for k, v in plan.inputs.items()})  # stragglers' epochs
        server = self.algorithm.server
        out = self.engine.run(self.algorithm.client_update, self.params, plan.data, r, ids, states, inputs,
                              server.linear)
        ctx = RoundContext(round=r, params=self.params, weights=out.weights, seed=self.config.seed,
                           outputs=out.outputs)
        usable = finite_rows(out.updates)

        def row() -> dict[str, Any]:
            metrics: dict[str, Any] = {"round": r + 1, **cohort_metrics(out, usable), **ctx.metrics}
            metrics.setdefault("dropped", int((~usable).sum()))
            return {**metrics, **plan.metrics}

        return Cohort(out.updates, ctx, row, f"round {r + 1}", "round skipped",
                      commit=lambda: self.client_states.scatter(ids, kept_states(states, out.states, usable)),
                      not_ready=None if plan.step else "fewer than round.min_completion clients arrived")

    def client_inputs(self, key_round: int, ids: list[int], t: int) -> dict[str, torch.Tensor]:
        """The algorithm's per-round inputs of clients `ids` (keyed by `key_round`), with the
        client lr after `t` rounds when `client.lr_schedule` sets one."""
        inputs = self.algorithm.round_inputs(key_round, ids, self.params, self.server_state)
        if self.client_lr is not None:
            inputs[LR_INPUT] = torch.full((len(ids),), self.client_lr(t), dtype=self.params.dtype,
                                          device=self.params.device)
        return inputs

    def evaluate(self, round: int) -> dict[str, float]:
        x, y = global_test(self.dataset.test_set(round), self.config.evaluation.max_samples, self.config.seed)
        loss, acc = self.model.evaluate(self.params, x.to(self.device), y.to(self.device))
        return {"test_loss": loss, "test_accuracy": acc, **self.client_eval(self.params, round, self.server_state)}

    def _eval_due(self) -> bool:
        return self.round % self.config.eval_every == 0 or self.round == self.config.rounds

    def run(self, quiet: bool = True, save: bool = True) -> list[dict[str, Any]]:
        """Run the remaining rounds. With `save`, write the run folder (see README) and
        checkpoints. SIGINT/SIGTERM stop it after the round in progress: the folder is
        checkpointed and summarised, then RunStopped is raised."""
        recorder = checkpointer = None
        leader = is_leader(self.engine)  # other ranks of a distributed run stay silent
        save, quiet, follow = save and leader, quiet or not leader, save and not leader
        if save:
            if self.run_dir is None:
                self.run_dir = new_run_dir(self.config)
                describe_into(self.dataset, self.run_dir)
            recorder = Recorder(self.run_dir, self.config, rows=self.history)
            checkpointer = Checkpointer(self.run_dir / "checkpoints", self.config.checkpoint)
        elif follow:  # gathering client state for rank 0's checkpoint needs every rank
            checkpointer = Checkpointer(None, self.config.checkpoint)
        progress = RoundProgress(self.config.rounds, quiet, start=self.round)
        t0 = time.perf_counter() - (self.history[-1].get("wall_s", 0.0) if self.history else 0.0)
        at_boundary = True  # False while a round runs: its state changes are half made
        signum = None  # the stop signal every rank has agreed on
        with GracefulStop() as stop:
            try:
                while (self.round < self.config.rounds and (signum := self._stop_signal(stop)) is None
                       and not self.stopped_early()):
                    at_boundary = False
                    row = self.step()
                    row["wall_s"] = time.perf_counter() - t0
                    self.history.append(row)
                    at_boundary = True
                    if recorder:
                        recorder.log(row)
                    if checkpointer and checkpointer.due(self.round, self.config.rounds):
                        checkpointer.save(self)
                    progress.update(row)
                    self._check_empty_rounds()
            finally:
                progress.close()
                # Also on an error or a second Ctrl-C, but only at a round boundary: a
                # round that broke off has moved some state (clock, event queue, client
                # states) and not the rest, so the newest checkpoint on disk stands.
                if checkpointer and at_boundary:
                    checkpointer.save(self)
                if recorder:
                    self._close_folder(recorder, time.perf_counter() - t0)
        if signum is not None and self.round < self.config.rounds:
            raise RunStopped(signum, self.round, self.run_dir)
        return self.history

    def _stop_signal(self, stop: GracefulStop) -> int | None:
        """The signal that asks to stop; the ranks of a distributed run agree on it. A signal
        that arrives while the ranks compare theirs is kept for the next round's comparison,
        never overwritten by this one's "no signal" (that lost a Ctrl-C: the ranks ran on)."""
        if not isinstance(self.engine, AgreesStop):
            return stop.signum
        agreed = self.engine.agree_stop(self.round, stop.signum)
        if agreed is not None:
            stop.signum = agreed
        return agreed

    def _close_folder(self, recorder: Recorder, loop_s: float) -> None:
        plot_rows = self.plot_rows
        if plot_rows is None:
            from fedhive.reports.plots import plot_rows as draw_here

            plot_rows = draw_here
        plot_rows(self.history, recorder.run_dir / "plots", title=recorder.run_dir.name,
                  config=self.config.model_dump(mode="json"))
        recorder.close(self.summary(loop_s))

    def stopped_early(self) -> bool:
        """`stop:` ended the run before `rounds` (see fedhive.run_folder.early_stop)."""
        return self.round < self.config.rounds and should_stop(self.history, self.config.stop)

    def skip_round(self, reason: str) -> None:
        """Count a skipped round (model unchanged) and remember why, for the stop message."""
        self.empty_rounds += 1
        self.skip_reasons = [*self.skip_reasons, reason][-self.config.faults.max_empty_rounds:]

    def _check_empty_rounds(self) -> None:
        n = self.config.faults.max_empty_rounds
        if self.empty_rounds >= n:
            counts = Counter(self.skip_reasons[-n:])  # rounds skipped before a resume are not known
            causes = ", ".join(f"{why} ({k}x)" for why, k in counts.most_common()) or "see the warnings"
            raise RunError(
                f"rounds {self.round - n + 1}-{self.round}: {n} rounds in a row skipped: {causes} "
                f"(faults.max_empty_rounds={n}); stopped with a checkpoint at round {self.round}"
            )

    def stateful_parts(self) -> dict[str, Any]:
        """Every attribute with `state_dict`/`load_state_dict` (the client states, and any
        part that keeps state between rounds), by attribute name: all are checkpointed."""
        return {
            name: part for name, part in sorted(vars(self).items())
            if isinstance(part, Stateful)
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything the next round depends on, plus the metrics so far and the config.
        No random-generator state: every draw is keyed by (seed, round, client, purpose)."""
        leaves, spec = tree_flatten(self.server_state)
        return {
            "round": self.round,
            "params": self.params,
            "server_state": leaves,
            "server_state_spec": str(spec),
            "parts": {name: part.state_dict() for name, part in self.stateful_parts().items()},
            "empty_rounds": self.empty_rounds,
            # As JSON, like metrics.jsonl: any row the recorder can write loads back.
            "history": json.dumps(self.history),
            "config": self.config.model_dump(mode="json"),
            "config_hash": config_hash(self.config),
        }

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Restore a `state_dict()`; its state must fit this experiment's server chain and,
        if `strict`, its stateful parts (otherwise the parts both have are restored)."""
        leaves, spec = tree_flatten(self.server_state)
        if state["server_state_spec"] != str(spec) or len(state["server_state"]) != len(leaves):
            raise UserError("checkpoint: its server state does not fit the configured server chain")
        parts = self.stateful_parts()
        if strict and set(parts) != set(state["parts"]):
            raise UserError(f"checkpoint: it holds state for {sorted(state['parts'])}, the experiment has {sorted(parts)}")
        self.server_state = tree_unflatten(list(state["server_state"]), spec)
        for name in parts.keys() & state["parts"].keys():
            parts[name].load_state_dict(state["parts"][name])
        self.params = state["params"].to(self.device)
        self.round, self.empty_rounds = state["round"], state["empty_rounds"]
        self.history = json.loads(state["history"])

    def summary(self, loop_s: float) -> dict[str, Any]:
        evals = [r for r in self.history if r.get("test_accuracy") is not None]
        last = evals[-1] if evals else {}
        return {
            "name": self.run_dir.name if self.run_dir else self.config.name,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "rounds": self.round,
            "stop_round": self.round if self.stopped_early() else None,
            "final_test_accuracy": last.get("test_accuracy"),
            "final_test_loss": last.get("test_loss"),
            "best_test_accuracy": max((r["test_accuracy"] for r in evals), default=None),
            # With evaluation.train_metrics: FedProx's measures on every client's training data.
            "final_global_train_loss": last.get("global_train_loss"),
            "final_grad_dissimilarity": last.get("grad_dissimilarity"),
            "loop_s": loop_s,
            "epsilon": self.history[-1].get("epsilon") if self.history else None,
            "bytes_up_total": sum(r.get("bytes_up", 0) for r in self.history),
            "bytes_down_total": sum(r.get("bytes_down", 0) for r in self.history),
        }


def check_device(device: torch.device) -> None:
    """A UserError naming `device` if this machine does not have it."""
    if device.type == "cuda":
        ok = torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    else:
        ok = device.type != "mps" or torch.backends.mps.is_available()
    if not ok:
        raise UserError(f"device: {device} is not available on this machine")


def cohort_metrics(out: CohortResult, usable: torch.Tensor) -> dict[str, Any]:
    """Training loss (sample-weighted) and counts over the clients whose update was usable."""
    weights = out.weights[usable]
    samples = weights.sum()
    loss = out.metrics.get("loss")
    train_loss = float((loss[usable] * weights).sum() / samples) if loss is not None and samples > 0 else None
    return {"train_loss": train_loss, "clients": len(out.weights), "samples": int(samples)}


