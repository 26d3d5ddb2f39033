"""The experiment configuration: pydantic models, YAML loading and dotted overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedhive.errors import UserError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    """How many clients each round samples (uniformly, without replacement)."""

    min: int = Field(20, ge=1)
    max: int = Field(29, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "CohortConfig":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
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

    name: Literal["vectorized", "sequential", "distributed"] = "vectorized"
    chunk_size: int | None = Field(None, ge=1, description="clients per vectorized call; default: from max_memory_mb")
    max_memory_mb: float = Field(1024.0, gt=0, description="memory bound used to derive chunk_size")
    fused: bool = Field(True, description="one forward/backward per chunk where exact (gradient update, linear aggregate)")
    compile: bool = Field(False, description="torch.compile the fused gradient path (its forward and backward)")
    # The distributed engine (a torch.distributed process group; see README "Distributed runs").
    workers: int = Field(1, ge=1, description="processes to start on this machine; > 1 implies name=distributed")
    local: Literal["vectorized", "sequential"] = Field("vectorized", description="engine each rank runs its slice with")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on cuda, else gloo")
    timeout_s: float = Field(300.0, gt=0, description="how long a rank waits for the others before failing")

    @model_validator(mode="before")
    @classmethod
    def _workers_imply_distributed(cls, data: Any) -> Any:
        """`workers: N` runs the named engine in N processes: the distributed engine, with
        the named one (default vectorized) as each rank's local engine."""
        if not isinstance(data, dict) or _int_or_none(data.get("workers")) in (None, 1):
            return data
        name = data.get("name", "distributed")
        if name == "distributed":
            return {**data, "name": name}
        if "local" in data and data["local"] != name:
            raise ValueError(f"workers > 1 runs engine {name!r} on each rank, but local is {data['local']!r}")
        return {**data, "name": "distributed", "local": name}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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

    @model_validator(mode="after")
    def _cohort_fits(self) -> "Config":
        if self.cohort.max > self.data.clients:
            raise ValueError(
                f"cohort.max ({self.cohort.max}) is larger than data.clients ({self.data.clients})"
            )
        return self


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
        return {}
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
