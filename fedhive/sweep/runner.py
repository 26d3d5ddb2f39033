"""`fedhive sweep`: run every point of a grid in worker processes, resumably, and keep
`sweep.yaml` (the grid) and `sweep.csv` (one row per run) up to date."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import yaml

from fedhive.config import Config, build_config, read_yaml
from fedhive.errors import UserError
from fedhive.run_folder.recorder import atomic_write, write_csv
from fedhive.sweep.grid import Point, placement, resolve

RESULTS = ("rounds", "stop_round", "final_test_accuracy", "best_test_accuracy", "final_test_loss",
           "epsilon", "bytes_up_total", "loop_s")


def sweep_dir_for(config_path: str | None, base: Config, name: str | None) -> Path:
    """`output_dir/<name>`: the --name, else the config's `name`, else the file's stem."""
    name = name or base.name or (Path(config_path).stem if config_path else "sweep")
    return Path(base.output_dir) / name


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def is_finished(run_dir: Path, config: Config) -> bool:
    """The run wrote its summary after its last round, or stopped early by `stop:`."""
    summary = read_summary(run_dir)
    return summary is not None and (summary.get("rounds", 0) >= config.rounds or summary.get("stop_round") is not None)


def _check_same_config(run_dir: Path, config: Config) -> None:
    """A folder left by an earlier sweep must hold the same computation as this point."""
    from fedhive.run_folder.checkpoint import changed_fields, config_hash

    if not (run_dir / "config.yaml").is_file():
        return
    old = build_config(read_yaml(run_dir / "config.yaml"))
    if config_hash(old) != config_hash(config):
        changes = ", ".join(changed_fields(old, config))
        raise UserError(f"{run_dir}: holds a run with other settings ({changes}); sweep into a new --name")


# ---- worker side -------------------------------------------------------------------

_stopping = False


def _worker_init(threads: int) -> None:
    """Each worker uses its share of the cores; a signal between runs only stops new ones."""
    import torch

    torch.set_num_threads(threads)
    if hasattr(os, "setpgrp"):  # a terminal's Ctrl-C reaches the parent only; it asks each worker once
        os.setpgrp()

    def stop(signum, frame):
        global _stopping
        _stopping = True

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, stop)


def execute(run_dir: str, config: Config, overrides: list[str], config_path: str | None) -> dict[str, Any]:
    """Run (or resume) one point; returns its status and one-line error, never raises."""
    from fedhive.errors import RunStopped

    global _stopping
    if _stopping:
        return {"status": "pending", "error": ""}
    path = Path(run_dir)
    try:
        if config.engine.workers > 1:
            return _execute_ranks(path, overrides, config_path, config.engine.workers)
        _experiment(path, config).run(quiet=True)
        return {"status": "done", "error": ""}
    except RunStopped:
        _stopping = True
        return {"status": "stopped", "error": ""}
    except Exception as e:  # noqa: BLE001 - a failing run is reported, the sweep goes on
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return {"status": "failed", "error": f"{type(e).__name__}: {first}" if first else type(e).__name__}


def _experiment(path: Path, config: Config):
    """A fresh Experiment, or the folder's run resumed from its newest checkpoint."""
    if (path / "config.yaml").is_file():
        from fedhive.run_folder.resume import resume_experiment

        return resume_experiment(path, [f"rounds={config.rounds}"])
    shutil.rmtree(path, ignore_errors=True)  # killed before it wrote anything
    from fedhive.experiment import Experiment

    return Experiment(config)


def _execute_ranks(path: Path, overrides: list[str], config_path: str | None, workers: int) -> dict[str, Any]:
    """A point with engine.workers > 1 runs as its own rank group, like `fedhive run`."""
    from fedhive.launch import spawn_workers

    if (path / "config.yaml").is_file():
        args = ["resume", str(path), "-q"]
    else:
        shutil.rmtree(path, ignore_errors=True)
        args = ["run", *([config_path] if config_path else []), *overrides, "-q"]
    code = spawn_workers(workers, args)
    return {"status": "done" if code == 0 else "failed", "error": "" if code == 0 else f"exit status {code}"}


# ---- parent side -------------------------------------------------------------------


def run_sweep(config_path: str | None, args: list[str], jobs: int | None = None, name: str | None = None,
              quiet: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """Validate every point, write sweep.yaml, run the unfinished points on `jobs` workers;
    returns the sweep folder and the sweep.csv rows."""
    base = build_config(read_yaml(config_path) if config_path else {}, [a for a in args if _is_fixed(a)])
    sweep_dir = sweep_dir_for(config_path, base, name)
    points = resolve(config_path, args, str(sweep_dir))
    for point, config in points:
        _check_same_config(sweep_dir / point.run, config)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    _write_grid(sweep_dir, config_path, args, points)
    status = {p.run: {"status": "done" if is_finished(sweep_dir / p.run, c) else "pending", "error": ""}
              for p, c in points}
    todo = [(p, c) for p, c in points if status[p.run]["status"] != "done"]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    print(f"sweep {sweep_dir}: {len(points)} runs, {len(points) - len(todo)} finished already, "
          f"{len(todo)} to run on {jobs} workers", file=sys.stderr)
    rows = lambda: [sweep_row(sweep_dir, p, status[p.run]) for p, _ in points]  # noqa: E731
    write_csv(rows(), sweep_dir / "sweep.csv")
    if todo:
        _run_points(todo, sweep_dir, config_path, jobs, status, lambda: write_csv(rows(), sweep_dir / "sweep.csv"),
                    quiet)
    return sweep_dir, rows()


def _is_fixed(arg: str) -> bool:
    """A plain `key=value` with a single value (used to find the sweep's name and folder)."""
    from fedhive.sweep.grid import parse_axis

    try:
        axis = parse_axis(arg)
    except UserError:
        return False
    return len(axis.keys) == 1 and len(axis.values) == 1


def _run_points(todo, sweep_dir: Path, config_path, jobs: int, status: dict, save, quiet: bool) -> None:
    from fedhive.sweep.progress import SweepProgress

    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    progress = SweepProgress(len(todo), quiet)
    stop = _ParentStop()
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
        with stop:
            futures = {pool.submit(execute, str(sweep_dir / p.run), c,
                                   [*p.overrides, *placement(str(sweep_dir), p.run)], config_path): p
                       for p, c in todo}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                if stop.signum is not None and not stop.forwarded:
                    stop.forward(pending)
                for f in done:
                    status[futures[f].run] = _outcome(f)
                    progress.advance(status[futures[f].run]["status"])
                if done:
                    save()
    progress.close()
    if stop.signum is not None:
        from fedhive.errors import RunStopped

        raise RunStopped(stop.signum, sum(s["status"] == "done" for s in status.values()), sweep_dir)


def _outcome(future) -> dict[str, Any]:
    """A finished future's status; a worker that died (killed, out of memory) fails its run."""
    if future.cancelled():
        return {"status": "pending", "error": ""}
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001
        return {"status": "failed", "error": f"{type(e).__name__}: worker process died"}


class _ParentStop:
    """SIGINT/SIGTERM: cancel the runs not started and ask running workers to stop after
    their round (each checkpoints, so the next `fedhive sweep` resumes it)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.forwarded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_ParentStop":
        for s in (signal.SIGINT, signal.SIGTERM):
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def forward(self, pending) -> None:
        self.forwarded = True
        print("fedhive: stopping the sweep after the rounds in progress", file=sys.stderr)
        for f in pending:
            f.cancel()
        for child in multiprocessing.active_children():
            if child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def sweep_row(sweep_dir: Path, point: Point, status: dict[str, Any]) -> dict[str, Any]:
    """One sweep.csv row: the run, its swept values, status, results from its summary.json."""
    summary = read_summary(sweep_dir / point.run) or {}
    if status["status"] == "done" and not summary:
        status = {"status": "failed", "error": "no summary.json written"}
    return {"run": point.run, **point.swept, "status": status["status"],
            **{k: summary.get(k) for k in RESULTS}, "error": status["error"]}


def _write_grid(sweep_dir: Path, config_path: str | None, args: list[str], points) -> None:
    grid = {
        "config": str(Path(config_path).resolve()) if config_path else None,
        "args": list(args),
        "runs": {p.run: {"overrides": list(p.overrides), "swept": p.swept} for p, _ in points},
    }
    atomic_write(sweep_dir / "sweep.yaml", yaml.safe_dump(grid, sort_keys=False).encode())


def read_grid(sweep_dir: str | Path) -> dict[str, Any]:
    """A sweep folder's sweep.yaml; a folder without one is a UserError."""
    path = Path(sweep_dir) / "sweep.yaml"
    if not path.is_file():
        raise UserError(f"{sweep_dir}: not a sweep folder (no sweep.yaml)")
    return read_yaml(path)
