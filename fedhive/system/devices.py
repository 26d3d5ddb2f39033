"""The device and network model: each client's speed, bandwidth and availability."""

from __future__ import annotations

import bisect
import math
from typing import NamedTuple

from fedhive import rng
from fedhive.config import SystemConfig
from fedhive.system.distributions import draw, keyed_normal, keyed_uniform
from fedhive.system.traces import load_availability_trace, load_device_trace


class TaskTime(NamedTuple):
    """A task's phases in simulated seconds: download the model, compute, upload."""

    download: float
    compute: float
    upload: float

    @property
    def total(self) -> float:
        return self.download + self.compute + self.upload


class Devices:
    """Per-client profiles drawn once per client from (seed, client, purpose) or read from
    a trace; per-task draws (jitter, availability) are keyed by the task's round too."""

    def __init__(self, config: SystemConfig, num_clients: int, seed: int):
        self.config, self.num_clients, self.seed = config, num_clients, seed
        self._trace = load_device_trace(config.trace, num_clients, config.trace_assign) if config.trace else None
        av = config.availability
        self._online = load_availability_trace(av.trace, num_clients, config.trace_assign) \
            if av.kind == "trace" and av.trace else None  # the config requires a trace with kind trace
        self._profiles: dict[int, tuple[float, float, float]] = {}

    def profile(self, client: int) -> tuple[float, float, float]:
        """(seconds per sample, upload bytes/s, download bytes/s) of one client."""
        p = self._profiles.get(client)
        if p is None:
            if self._trace is not None:
                t = self._trace
                p = (t["seconds_per_sample"][client], t["upload"][client], t["download"][client])
            else:
                c, s = self.config, self.seed
                p = (draw(c.speed, s, client, "system-speed"), draw(c.upload, s, client, "system-upload"),
                     draw(c.download, s, client, "system-download"))
            self._profiles[client] = p
        return p

    def task_time(self, client: int, round: int, samples: float, bytes_down: float, bytes_up: float) -> TaskTime:
        """Time for `samples` samples of work plus the model's round trip."""
        spp, up, down = self.profile(client)
        factor = 1.0
        if self.config.jitter > 0:
            factor = math.exp(self.config.jitter * keyed_normal(self.seed, round, client, "system-jitter"))
        return TaskTime(bytes_down / down, samples * spp * factor, bytes_up / up)

    def available(self, client: int, round: int, t: float) -> bool:
        """Whether the client can be selected at simulated time t."""
        av = self.config.availability
        if av.kind == "always":
            return True
        if av.kind == "trace":
            return self.online_until(client, t) > t
        p = av.p
        if av.kind == "diurnal":
            phase = keyed_uniform(self.seed, rng.GLOBAL, client, "system-phase")
            p = min(max(av.mean + av.amplitude * math.sin(2 * math.pi * (t / av.period + phase)), 0.0), 1.0)
        return keyed_uniform(self.seed, round, client, "system-available") < p

    def online_until(self, client: int, t: float) -> float:
        """When the client goes offline if online at t (inf without an availability
        trace, t itself when it is offline)."""
        if self._online is None:
            return math.inf
        repeat = self.config.availability.repeat
        base = math.floor(t / repeat) * repeat if repeat else 0.0
        ivs = self._online[client]
        i = bisect.bisect_right(ivs, (t - base, math.inf)) - 1
        if i >= 0 and ivs[i][0] <= t - base < ivs[i][1]:
            return base + ivs[i][1]
        return t

    def drops_out(self, client: int, round: int) -> bool:
        """Whether the client drops mid-task (probability `system.dropout`)."""
        if self.config.dropout <= 0:
            return False
        return keyed_uniform(self.seed, round, client, "system-dropout") < self.config.dropout
