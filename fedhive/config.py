"""The experiment configuration: pydantic models, YAML loading and dotted overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from fedhive.errors import UserError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads `true` as 1; and ints must fit the int64 that torch uses.
        annotation = cls.model_fields[info.field_name].annotation
        types = set(get_args(annotation)) or {annotation}  # `int | None` counts as int
        if types & {int, float} and bool not in types and isinstance(value, bool):
            raise ValueError("Input should be a number, not a boolean")
        if int in types and isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ValueError("Input should fit in a 64-bit integer")
        return value


class IntRange(Section):
    """An inclusive integer range; `min == max` means a fixed value."""

    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "IntRange":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class DataConfig(Section):
    """Which federated dataset and how clients' data is drawn."""

    name: Literal["reference"] = "reference"
    clients: int = Field(1000, ge=1, description="size of the client universe")
    batch_size: int = Field(1000, ge=1)
    batches: IntRange = Field(default_factory=lambda: IntRange(min=5, max=9))
    test_size: int = Field(1000, ge=1, description="points in the test set")


class ModelConfig(Section):
    """The model, by registry name."""

    name: Literal["reference"] = "reference"


class CohortConfig(Section):
    """How many clients each round samples: `uniform` draws K ~ randint(min, max) distinct
    clients; `poisson` includes each client independently with probability `rate`."""

    min: int = Field(20, ge=1)
    max: int = Field(29, ge=1)
    sampler: Literal["uniform", "poisson"] = "uniform"
    rate: float | None = Field(None, gt=0, le=1, description="inclusion probability q (poisson)")

    @model_validator(mode="after")
    def _ordered(self) -> "CohortConfig":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        if (self.sampler == "poisson") != (self.rate is not None):
            raise ValueError("rate is required by sampler=poisson and only used by it")
        return self


class ClientConfig(Section):
    """The client update: `gradient` (FedSGD) or `local_sgd` (FedAvg's local training)."""

    name: Literal["gradient", "local_sgd"] = "gradient"
    lr: float = Field(0.1, gt=0, description="client learning rate (local_sgd)")
    epochs: int = Field(1, ge=1, description="local passes over the client's batches (local_sgd)")


class ServerConfig(Section):
    """The server chain: an aggregator then a server optimizer."""

    aggregate: Literal["sum", "mean", "weighted_mean"] = "sum"
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(1.0, gt=0)
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


class EngineConfig(Section):
    """Which engine runs the client updates, and how the vectorized one chunks the cohort."""

    name: Literal["vectorized", "sequential"] = "vectorized"
    chunk_size: int | None = Field(None, ge=1, description="clients per vectorized call; default: from max_memory_mb")
    max_memory_mb: float = Field(1024.0, gt=0, description="memory bound used to derive chunk_size")
    fused: bool = Field(True, description="one forward/backward per chunk where exact (gradient update, linear aggregate)")
    compile: bool = Field(False, description="torch.compile the fused gradient path (its forward and backward)")
    fail_fast: bool = Field(False, description="re-raise a failing client update instead of dropping it (debugging)")


class CheckpointConfig(Section):
    """When the run folder's `checkpoints/` is written, and how many files are kept."""

    every: int = Field(10, ge=0, description="rounds between checkpoints; 0: only at the end (and on a stop)")
    keep: int = Field(3, ge=1, description="how many of the newest checkpoints are kept")


class FaultsConfig(Section):
    """What the round loop tolerates: rounds where no client update is usable are skipped."""

    max_empty_rounds: int = Field(5, ge=1, description="consecutive skipped rounds before the run stops")


class AdaptiveClipConfig(Section):
    """Adaptive clipping (Andrew et al. 2021): the clip norm C tracks the `target_quantile`
    (gamma) of update norms, C <- C * exp(-lr * (b~ - gamma)), b~ the noisy fraction of
    unclipped updates; `count_noise` is sigma_b (default: expected cohort size / 20)."""

    enabled: bool = False
    target_quantile: float = Field(0.5, gt=0, lt=1)
    lr: float = Field(0.2, gt=0)
    count_noise: float | None = Field(None, gt=0)


class SecAggConfig(Section):
    """Secure-aggregation numerics: each coordinate clipped to [-range, range], quantized to
    `quant_bits`-bit integers, summed modulo 2^`bits`."""

    enabled: bool = False
    range: float = Field(1.0, gt=0)
    quant_bits: int = Field(16, ge=1, le=32)
    bits: int = Field(32, ge=2, le=62)


class PrivacyConfig(Section):
    """Differential privacy: `central` (clip per client, noise on the sum, user-level DP) or
    `local` (each client clips and adds noise before upload); plus secure aggregation."""

    mechanism: Literal["none", "central", "local"] = "none"
    clip: float = Field(1.0, gt=0, description="L2 clip norm S (initial C when adaptive)")
    noise_multiplier: float = Field(1.0, ge=0, description="z: noise std is z * S")
    target_epsilon: float | None = Field(None, gt=0, description="calibrate z to reach it")
    delta: float = Field(1e-5, gt=0, lt=1)
    accountant: Literal["pld", "rdp"] = "pld"
    adaptive_clip: AdaptiveClipConfig = Field(default_factory=AdaptiveClipConfig)
    secagg: SecAggConfig = Field(default_factory=SecAggConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "PrivacyConfig":
        if self.adaptive_clip.enabled and self.mechanism != "central":
            raise ValueError("adaptive_clip needs mechanism=central")
        if self.adaptive_clip.enabled and self.secagg.enabled:
            raise ValueError("adaptive_clip and secagg together are not supported")
        if self.target_epsilon is not None and self.mechanism == "none":
            raise ValueError("target_epsilon needs mechanism=central or local")
        return self


class CompressionConfig(Section):
    """Upload compression: `qsgd` (stochastic quantization to `levels` levels), `topk` /
    `randk` (keep `fraction` of the coordinates), `fp16`/`bf16`/`fp8` casting; optional
    error feedback (the residual stays with the client)."""

    name: Literal["none", "qsgd", "topk", "randk", "fp16", "bf16", "fp8"] = "none"
    levels: int = Field(16, ge=1, description="QSGD levels s")
    fraction: float = Field(0.01, gt=0, le=1, description="kept fraction (topk, randk)")
    error_feedback: bool = False

    @model_validator(mode="after")
    def _feedback_needs_codec(self) -> "CompressionConfig":
        if self.error_feedback and self.name == "none":
            raise ValueError("error_feedback needs a compression name")
        return self


class Config(Section):
    """A whole experiment. Every field has a default: `Config()` is the reference run."""

    name: str | None = Field(None, description="run folder name; a timestamp when unset")
    seed: int = 0
    rounds: int = Field(100, ge=1)
    eval_every: int = Field(1, ge=1)
    output_dir: str = "runs"
    device: str = "cpu"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    cohort: CohortConfig = Field(default_factory=CohortConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    faults: FaultsConfig = Field(default_factory=FaultsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)

    @model_validator(mode="after")
    def _cohort_fits(self) -> "Config":
        if self.cohort.max > self.data.clients:
            raise ValueError(
                f"cohort.max ({self.cohort.max}) is larger than data.clients ({self.data.clients})"
            )
        return self

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str | None) -> str | None:
        if name is not None and (name.strip() in ("", ".", "..") or any(c in name for c in "/\\\0")):
            raise ValueError("must be a plain folder name (not empty, no '/', '\\', '..')")
        return name

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
            raise ValueError("must be cpu, cuda, cuda:N or mps")
        return device


def format_validation_error(err: ValidationError) -> str:
    """One line naming every bad field, e.g. `rounds: Input should be ... (got 'abc')`."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn `["rounds=20", "cohort.min=5"]` into a nested dict; values are parsed as YAML."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not p for p in key.split(".")):
            raise UserError(f"override {item!r}: expected key=value, e.g. rounds=20")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.split(".")
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise UserError(f"override {item!r}: {p} is set to a value and a section at once")
            node = child
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{p}: not valid YAML ({first})") from None
    if data is None:
        raise UserError(f"{p}: the config file is empty (run without a config for the reference experiment)")
    if not isinstance(data, dict):
        raise UserError(f"{p}: the config must be a mapping of keys to values, got {type(data).__name__}")
    return data


def build_config(data: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Validate a raw mapping plus dotted overrides into a Config, or raise UserError."""
    merged = _merge(data, parse_overrides(overrides or []))
    try:
        return Config.model_validate(merged)
    except ValidationError as e:
        raise UserError(f"config error: {format_validation_error(e)}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the reference defaults when `path` is None) and apply overrides."""
    return build_config(read_yaml(path) if path is not None else {}, overrides)


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
