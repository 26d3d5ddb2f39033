"""`engine.workers=N`: start N local worker processes with torchrun's environment (RANK,
WORLD_SIZE, MASTER_ADDR, ...), watch them, and stop all when one fails. No torch here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from fedhive.config import EngineConfig


def should_spawn(config: EngineConfig) -> bool:
    """True when the config asks for several workers and no launcher started this process."""
    return config.workers > 1 and "WORLD_SIZE" not in os.environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(rank: int, world: int, port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment torchrun would give worker `rank` of `world` on one machine, and the
    launcher's pid (a worker whose launcher is gone stops). Each worker gets an equal share
    of the cores unless OMP_NUM_THREADS is already set."""
    env = dict(os.environ if base is None else base)
    env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), FEDHIVE_LAUNCHER_PID=str(os.getpid()))
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
    return env


def launcher_gone() -> bool:
    """True in a worker whose launcher has died (killed with -9, say): its parent changed.
    Workers run in their own sessions, so nothing else would ever stop them."""
    launcher = os.environ.get("FEDHIVE_LAUNCHER_PID")
    return launcher is not None and os.getppid() != int(launcher)


# Signals the launcher passes on to its workers, as the signal each worker gets.
FORWARDED = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGHUP: signal.SIGTERM}


# A worker's exit status after a clean stop on SIGINT/SIGTERM (checkpoint and summary written).
STOPPED = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def spawn_workers(workers: int, fedhive_args: list[str]) -> int:
    """Run `fedhive <fedhive_args>` in `workers` processes; 0 when all succeed, else the
    first failure's status after stopping the others.

    The workers run in their own sessions, so a Ctrl-C at the terminal reaches the launcher
    alone, which passes it on exactly once: each worker gets one signal (stop after the
    round in progress, agreed between ranks), never a second one that stops it at once."""
    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "fedhive", *fedhive_args], env=worker_env(r, workers, port),
                         start_new_session=True)
        for r in range(workers)
    ]
    forwarded: list[int] = []

    def forward(signum: int, frame: object) -> None:
        forwarded.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(FORWARDED[signal.Signals(signum)])

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        return supervise(procs, stopping=lambda: bool(forwarded))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        stop(procs)  # none is left unless the launcher itself failed


def supervise(procs: list[subprocess.Popen], poll_s: float = 0.1, stopping=lambda: False) -> int:
    """Wait for every worker; when one fails, stop the rest and name it on stderr. Once
    `stopping()` (a signal was passed on), the workers end by themselves: wait for all,
    and return rank 0's status (each has reported)."""
    while True:
        codes = [p.poll() for p in procs]
        if any(c in STOPPED for c in codes):  # a rank stopped on a signal: the others follow
            stopping = lambda: True  # noqa: E731
        if stopping() and all(c is not None for c in codes):
            return codes[0] or next((c for c in codes if c), 0)
        failed = [(r, c) for r, c in enumerate(codes) if c is not None and c != 0]
        if failed and not stopping():
            stop(procs)
            rank, code = failed[0]
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
            print(f"fedhive: error: worker rank {rank} {how}; stopped the other workers", file=sys.stderr)
            return code if code > 0 else 1
        if all(c == 0 for c in codes):
            return 0
        time.sleep(poll_s)


def stop(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM the workers still running, then SIGKILL any left after `grace_s`."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
