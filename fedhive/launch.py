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
    """The environment torchrun would give worker `rank` of `world` on one machine. Each
    worker gets an equal share of the cores unless OMP_NUM_THREADS is already set."""
    env = dict(os.environ if base is None else base)
    env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
    return env


def spawn_workers(workers: int, fedhive_args: list[str]) -> int:
    """Run `fedhive <fedhive_args>` in `workers` processes; 0 when all succeed, else the
    first failure's status after stopping the others."""
    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "fedhive", *fedhive_args], env=worker_env(r, workers, port))
        for r in range(workers)
    ]
    try:
        return supervise(procs)
    except KeyboardInterrupt:
        stop(procs)
        return 130


def supervise(procs: list[subprocess.Popen], poll_s: float = 0.1) -> int:
    """Wait for every worker; when one fails, stop the rest and name it on stderr."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            stop(procs)
            rank, code = failed[0], codes[failed[0]]
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
