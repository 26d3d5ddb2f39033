"""Membership in a torch.distributed process group: joining it, its collectives, and a clear
error naming the rank that died or hung instead of waiting forever."""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import torch
import torch.distributed as dist

from fedhive.config import EngineConfig
from fedhive.engines.native_log import describe, divert_native_stderr
from fedhive.errors import RunError

T = TypeVar("T")
_PREFIX = "fedhive/"


class DistributedError(RunError):
    """A collective failed or timed out; the message names the ranks that stopped responding."""


def launched_world_size() -> int:
    """The number of ranks a launcher (torchrun) started, 1 when run without one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def choose_backend(config: EngineConfig, device: torch.device) -> str:
    """`gloo` on CPU, `nccl` on CUDA, unless the config names one."""
    if config.backend != "auto":
        return config.backend
    return "nccl" if device.type == "cuda" else "gloo"


class ProcessGroup:
    """This process's rank in the default process group (joined from torchrun's environment
    variables), or a world of one when no launcher started it. Every collective goes through
    `call`, which turns a failure or timeout into a `DistributedError` naming the lost ranks."""

    def __init__(self, config: EngineConfig, device: torch.device):
        self.world = dist.get_world_size() if dist.is_initialized() else launched_world_size()
        self.rank = dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))
        self.timeout_s = config.timeout_s
        self._liveness: Liveness | None = None
        if self.world > 1:
            self._liveness = _join(config, device, self.rank, self.world)

    def call(self, round: int, what: str, fn: Callable[[], T]) -> T:
        """Run the collective `fn`; if it fails (a peer died) or times out (a peer hung), raise
        a DistributedError that names the ranks which stopped responding."""
        if self._liveness is not None:
            self._liveness.entered()
        try:
            return fn()
        except (RuntimeError, dist.DistError) as e:
            _JOINED["failed"] = None  # a broken group: leave without waiting for the others
            raise DistributedError(self._explain(round, what, e)) from None

    def all_gather(self, round: int, tensor: torch.Tensor) -> list[torch.Tensor]:
        if self.world == 1:
            return [tensor]
        out = [torch.empty_like(tensor) for _ in range(self.world)]
        self.call(round, "all_gather", lambda: dist.all_gather(out, tensor.contiguous()))
        return out

    def all_reduce(self, round: int, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of `tensor` over ranks (in place)."""
        if self.world > 1:
            self.call(round, "all_reduce", lambda: dist.all_reduce(tensor))
        return tensor

    def all_gather_object(self, round: int, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        self.call(round, "all_gather_object", lambda: dist.all_gather_object(out, obj))
        return out

    def _explain(self, round: int, what: str, error: Exception) -> str:
        return self._diagnose(round, what, error) + describe(_JOINED.get("log"))

    def _diagnose(self, round: int, what: str, error: Exception) -> str:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        where = f"distributed engine: round {round}: {what} failed on rank {self.rank} of {self.world}"
        lost = self._liveness.lost_ranks() if self._liveness is not None else None
        if lost is None:
            return f"{where}; the rendezvous store is unreachable, so its host (rank 0 or the launcher) is gone: {first}"
        if not lost:
            return f"{where}; every rank is alive, a peer may be stuck in communication: {first}"
        names = ", ".join(f"rank {r}" for r in lost)
        return f"{where}: {names} stopped responding (died or hung; timeout {self.timeout_s:g} s): {first}"



class _Joined(TypedDict, total=False):
    liveness: Liveness | None
    log: Path  # this rank's native stderr log
    failed: None  # set when the group broke


_JOINED: _Joined = {}


def _join(config: EngineConfig, device: torch.device, rank: int, world: int) -> "Liveness | None":
    """Join the default process group once per process (reusing one the caller set up) and
    start this process's heartbeat; both end when the process exits."""
    if "liveness" in _JOINED:
        return _JOINED["liveness"]
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = choose_backend(config, device)
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=config.timeout_s))
        except (RuntimeError, ValueError, dist.DistError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise DistributedError(
                f"distributed engine: rank {rank} could not join the {backend} process group of {world} ranks "
                f"within engine.timeout_s={config.timeout_s:g} s (did every rank start?): {first}"
            ) from None
        atexit.register(_leave)
        _JOINED["log"] = divert_native_stderr(rank)
    _JOINED["liveness"] = Liveness.connect(rank, world)
    return _JOINED["liveness"]


def _leave() -> None:
    liveness = _JOINED.pop("liveness", None)
    if liveness is not None:
        liveness.stop()
    if dist.is_initialized():
        if "failed" not in _JOINED:
            try:  # leave together: rank 0 hosts the store the others still talk to
                dist.barrier()
            except (RuntimeError, dist.DistError):
                pass
        dist.destroy_process_group()


class Liveness:
    """Heartbeats in the launcher's key-value store: every rank bumps a counter from a
    background thread, so when a collective fails the survivors can tell which peers are
    gone (their counter stopped) rather than just that something broke."""

    def __init__(self, store: dist.Store, rank: int, world: int, interval_s: float = 0.5):
        self.store, self.rank, self.world, self.interval_s = store, rank, world, interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="fedhive-heartbeat", daemon=True)
        self._thread.start()

    @classmethod
    def connect(cls, rank: int, world: int) -> "Liveness | None":
        """A second client of the launcher's store (MASTER_ADDR:MASTER_PORT), or None."""
        host, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
        if not host or not port:
            return None
        try:
            store = dist.TCPStore(host, int(port), is_master=False, timeout=timedelta(seconds=10))
        except (RuntimeError, dist.DistError):
            return None
        return cls(store, rank, world)

    def _add(self, key: str, amount: int) -> int:
        with self._lock:
            return int(self.store.add(_PREFIX + key, amount))

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._add(f"beat/{self.rank}", 1)
            except (RuntimeError, dist.DistError):
                return  # the store's host is gone; the main thread reports it

    def entered(self) -> None:
        """Count one more collective entered by this rank."""
        try:
            self._add(f"calls/{self.rank}", 1)
        except (RuntimeError, dist.DistError):
            pass

    def lost_ranks(self) -> list[int] | None:
        """Ranks whose heartbeat stopped, else ranks that are behind in collectives entered;
        None when the store itself cannot be reached."""
        try:
            before = [self._add(f"beat/{r}", 0) for r in range(self.world)]
            time.sleep(4 * self.interval_s)
            after = [self._add(f"beat/{r}", 0) for r in range(self.world)]
            calls = [self._add(f"calls/{r}", 0) for r in range(self.world)]
        except (RuntimeError, dist.DistError):
            return None
        silent = [r for r in range(self.world) if after[r] == before[r] and r != self.rank]
        if silent:
            return silent
        return [r for r in range(self.world) if calls[r] < max(calls)]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.interval_s)
