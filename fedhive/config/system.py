"""Config sections for system heterogeneity, round policies and asynchronous training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fedhive.config.sections import Section


class Distribution(Section):
    """A positive per-client quantity, drawn once per client from the keyed generator.

    `constant`: value. `lognormal`: value·exp(sigma·N) (value is the median).
    `normal`: max(value + sigma·N, floor). `pareto`: min(value·U^(-1/alpha), cap) (value is
    the scale). `uniform`: U(low, high). `exponential`: max(value·Exp(1), floor) (value is
    the mean). `halfnormal`: value + sigma·|N| (value is the minimum).
    """

    dist: Literal["constant", "lognormal", "normal", "pareto", "uniform", "exponential", "halfnormal"] = "constant"
    value: float | None = Field(None, gt=0, description="defaults per quantity (see SystemConfig)")
    sigma: float = Field(0.5, ge=0)
    floor: float = Field(1e-9, gt=0)
    alpha: float = Field(1.5, gt=0)
    cap: float = Field(1e12, gt=0)
    low: float = Field(0.5, gt=0)
    high: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Distribution":
        if self.dist == "uniform" and self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self


class AvailabilityConfig(Section):
    """When a client can be selected: `always`, `bernoulli` (online with probability p at
    each selection), `diurnal` (p(t) = mean + amplitude·sin(2π(t/period + phase_c)), a
    per-client phase) or `trace` (on/off intervals read from `trace`)."""

    kind: Literal["always", "bernoulli", "diurnal", "trace"] = "always"
    p: float = Field(0.8, gt=0, le=1)
    mean: float = Field(0.5, ge=0, le=1)
    amplitude: float = Field(0.4, ge=0, le=1)
    period: float = Field(86400.0, gt=0, description="simulated seconds of one diurnal cycle")
    trace: str | None = Field(None, description="CSV/JSON of online intervals (kind: trace)")
    repeat: float | None = Field(None, gt=0, description="the trace repeats with this period (s)")

    @model_validator(mode="after")
    def _trace_given(self) -> "AvailabilityConfig":
        if self.kind == "trace" and not self.trace:
            raise ValueError("kind 'trace' needs a trace file (availability.trace)")
        return self


class StragglersConfig(Section):
    """FedProx-paper stragglers: `fraction` of each cohort can do only e ~ randint(min_epochs,
    E) of its E local passes' worth of work (`round.straggler_policy` says what counts)."""

    fraction: float = Field(0.0, ge=0, le=1)
    min_epochs: int = Field(1, ge=1)
    exclude_full: bool = Field(False, description="draw e < E, as the reference code's numpy randint(1, E)")


class SystemConfig(Section):
    """Devices and network: compute speed (seconds per sample), bandwidth (bytes/s),
    per-round jitter, availability, dropout. A `trace` file replaces the three draws."""

    speed: Distribution = Field(default_factory=Distribution, description="seconds per sample (1e-3)")
    upload: Distribution = Field(default_factory=Distribution, description="bytes per second (1e6)")
    download: Distribution = Field(default_factory=Distribution, description="bytes per second (1e7)")
    trace: str | None = Field(None, description="CSV/JSON device trace (see README)")
    trace_assign: Literal["exact", "cycle"] = Field(
        "exact", description="client c -> trace client c, or c mod the trace's clients (both traces)")
    jitter: float = Field(0.0, ge=0, description="sigma of a per-round log-normal factor on compute time")
    availability: AvailabilityConfig = Field(default_factory=AvailabilityConfig)
    dropout: float = Field(0.0, ge=0, lt=1, description="probability a client drops mid-round")
    stragglers: StragglersConfig = Field(default_factory=StragglersConfig)

    @model_validator(mode="after")
    def _default_values(self) -> "SystemConfig":
        for name, value in (("speed", 1e-3), ("upload", 1e6), ("download", 1e7)):
            if getattr(self, name).value is None:
                getattr(self, name).value = value
        return self


class RoundConfig(Section):
    """Synchronous rounds under heterogeneity: deadline, straggler policy, over-commitment."""

    deadline: float | None = Field(None, gt=0, description="simulated seconds; none waits for all")
    straggler_policy: Literal["drop", "partial", "fedprox_epochs"] = Field(
        "drop", description="a client short of its work: dropped; `partial`: the leading steps of each "
        "pass that fit; `fedprox_epochs`: the whole local epochs that fit (FedProx paper)")
    overcommit: float = Field(1.0, ge=1, description="select ceil(overcommit*K), keep the K first")
    min_completion: int = Field(1, ge=0, description="skip the server step when fewer arrive")


class AsyncConfig(Section):
    """Asynchronous training (`mode: async`): FedBuff / FedAsync on the simulated clock."""

    concurrency: int = Field(100, ge=1, description="clients in flight (closed loop)")
    arrival_rate: float | None = Field(None, gt=0, description="Poisson starts per second (open loop)")
    buffer_size: int = Field(10, ge=1, description="updates per server step (1 = FedAsync)")
    staleness: Literal["constant", "polynomial", "hinge", "threshold"] = "constant"
    a: float = Field(0.5, ge=0, description="polynomial exponent (0..1, as FLSim) / hinge slope")
    b: float = Field(10.0, ge=0, description="hinge, threshold: staleness tolerated before decay (the cutoff)")
    value_after_cutoff: float | None = Field(None, ge=0, description="threshold: the weight beyond the cutoff b")
    avg_staleness: float = Field(0.0, ge=0, description="staleness weights are divided by the weight here "
                                 "(FLSim's avg_staleness; its default is 1)")
    example_weight: Literal["equal", "linear", "sqrt", "log10"] = Field(
        "linear", description="the aggregate's client weight: 1, n, sqrt(n) or log10(1 + n) for n samples")
    avg_examples: float = Field(1.0, gt=0, description="example weights are divided by the weight here "
                                "(FLSim's avg_num_examples)")
    max_staleness: int | None = Field(None, ge=0, description="older updates are dropped")
    mixing_rate: float = Field(1.0, gt=0, le=1, description="FedAsync alpha: scales every step")
    stacked: bool = Field(True, description="train clients of several model versions in one vmap")
    chunk_size: int = Field(512, ge=1, description="clients per stacked vmap call")

    @model_validator(mode="after")
    def _weights_fit(self) -> "AsyncConfig":
        if self.staleness == "polynomial" and self.a > 1:
            raise ValueError(f"a: the polynomial staleness exponent must be between 0 and 1, inclusive (got {self.a})")
        if self.staleness == "threshold" and self.value_after_cutoff is None:
            raise ValueError("value_after_cutoff: staleness 'threshold' needs the weight beyond the cutoff b")
        return self
