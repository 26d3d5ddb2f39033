"""Builds an experiment's parts from a config and runs the round loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from fedhive.algorithms import build_algorithm
from fedhive.config import Config
from fedhive.data.synthetic import build_dataset
from fedhive.engines.base import build_engine, client_state_store, is_leader
from fedhive.models.registry import build_model
from fedhive.progress import RoundProgress
from fedhive.recorder import Recorder, new_run_dir
from fedhive.sampling import UniformCohort
from fedhive.server.chain import RoundContext


class Experiment:
    """One federated experiment: `Experiment(config).run()` returns the metrics history."""

    def __init__(self, config: Config):
        self.config = config
        self.device = torch.device(config.device)
        self.dataset = build_dataset(config.data, config.seed)
        self.model = build_model(config.model, self.dataset.num_features, config.seed)
        self.algorithm = build_algorithm(config, self.model)
        # The engine first: a distributed one picks this rank's GPU before anything moves there.
        self.engine = build_engine(config.engine, self.device)
        self.model.module.to(self.device)
        self.sampler = UniformCohort(config.cohort, self.dataset.num_clients, config.seed)
        self.params = self.model.initial_params().to(self.device)
        self.server_state = self.algorithm.server.init(self.params)
        self.client_states = client_state_store(self.engine, self.algorithm.client_init, self.params)
        self.round = 0
        self.history: list[dict[str, Any]] = []
        self.run_dir: Path | None = None

    def step(self) -> dict[str, Any]:
        """Run one round: sample, train the cohort, step the server, evaluate."""
        r, t0 = self.round, time.perf_counter()
        ids = self.sampler(r).tolist()
        states = self.client_states.gather(ids)
        server = self.algorithm.server
        out = self.engine.run(self.algorithm.client_update, self.params, self.dataset, r, ids, states, server.linear)
        self.client_states.scatter(ids, out.states)
        ctx = RoundContext(round=r, params=self.params, weights=out.weights, seed=self.config.seed)
        step, self.server_state = server.update(out.updates, self.server_state, ctx)
        self.params = self.params + step
        self.round += 1
        samples = out.weights.sum()
        row: dict[str, Any] = {
            "round": self.round,
            "train_loss": float((out.metrics["loss"] * out.weights).sum() / samples) if ids else None,
            "clients": len(ids),
            "samples": int(samples),
            **ctx.metrics,
        }
        row.update(self.evaluate(r) if self._eval_due() else {"test_loss": None, "test_accuracy": None})
        row["round_s"] = time.perf_counter() - t0
        return row

    def evaluate(self, round: int) -> dict[str, float]:
        x, y = self.dataset.test_set(round)
        loss, acc = self.model.evaluate(self.params, x.to(self.device), y.to(self.device))
        return {"test_loss": loss, "test_accuracy": acc}

    def _eval_due(self) -> bool:
        return self.round % self.config.eval_every == 0 or self.round == self.config.rounds

    def run(self, quiet: bool = True, save: bool = True) -> list[dict[str, Any]]:
        """Run the remaining rounds. With `save`, write the run folder (see README)."""
        leader = is_leader(self.engine)  # other ranks of a distributed run stay silent
        save, quiet = save and leader, quiet or not leader
        recorder = None
        if save:
            self.run_dir = new_run_dir(self.config)
            recorder = Recorder(self.run_dir, self.config)
        progress = RoundProgress(self.config.rounds, quiet, start=self.round)
        t0 = time.perf_counter()
        try:
            while self.round < self.config.rounds:
                row = self.step()
                row["wall_s"] = time.perf_counter() - t0
                self.history.append(row)
                if recorder:
                    recorder.log(row)
                progress.update(row)
        finally:
            progress.close()
        if recorder:
            from fedhive.plots import plot_rows

            recorder.close(self.summary(time.perf_counter() - t0))
            plot_rows(self.history, self.run_dir / "plots", title=self.run_dir.name)
        return self.history

    def summary(self, loop_s: float) -> dict[str, Any]:
        evals = [r for r in self.history if r.get("test_accuracy") is not None]
        last = evals[-1] if evals else {}
        return {
            "name": self.run_dir.name if self.run_dir else self.config.name,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "rounds": self.round,
            "final_test_accuracy": last.get("test_accuracy"),
            "final_test_loss": last.get("test_loss"),
            "best_test_accuracy": max((r["test_accuracy"] for r in evals), default=None),
            "loop_s": loop_s,
        }
