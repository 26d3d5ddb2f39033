"""The experiment configuration: the root model, YAML loading and dotted overrides.

The sections live in config_sections, config_privacy and config_system; they are
re-exported here so `from fedhive.config import DataConfig` keeps working.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from fedhive.algorithms.server_specs import BulyanSpec, KrumSpec, MultiKrumSpec, TransformSpec
from fedhive.config.privacy import AdaptiveClipConfig, CompressionConfig, PrivacyConfig, SecAggConfig  # noqa: F401
from fedhive.config.sections import (  # noqa: F401
    _SERVER_FORMS, MODELS, AlgorithmConfig, AttackConfig, CheckpointConfig, ClientConfig, CohortConfig, DataConfig, EngineConfig,
    EvalConfig, FaultsConfig, IntRange, ModelConfig, PartitionConfig, Section, Server, ServerConfig, SyntheticConfig,
)
from fedhive.config.system import (  # noqa: F401
    AsyncConfig, AvailabilityConfig, Distribution, RoundConfig, StragglersConfig, SystemConfig,
)
from fedhive.run_folder.early_stop import StopConfig
from fedhive.errors import UserError
from fedhive.run_folder.tracking import Tracking


class Config(Section):
    """A whole experiment. Every field has a default: `Config()` is the reference run."""

    name: str | None = Field(None, description="run folder name; when unset, the config file's stem and "
                                               "the time (the time alone without a file)")
    seed: int = 0
    rounds: int = Field(100, ge=1)
    eval_every: int = Field(1, ge=1)
    output_dir: str = "runs"
    device: str = "cpu"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    cohort: CohortConfig = Field(default_factory=CohortConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    server: Server = Field(default_factory=ServerConfig, validate_default=True)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    faults: FaultsConfig = Field(default_factory=FaultsConfig)
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig)
    attack: AttackConfig | None = None
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    mode: Literal["sync", "async"] = "sync"
    system: SystemConfig | None = Field(None, description="device/network model; none = homogeneous")
    round: RoundConfig = Field(default_factory=RoundConfig)
    asynchronous: AsyncConfig = Field(default_factory=AsyncConfig)
    stop: StopConfig = Field(default_factory=StopConfig)
    tracking: Tracking = Field(default_factory=list, description="tensorboard, mlflow (the [tracking] extra)")

    @model_validator(mode="after")
    def _mode_fits(self) -> "Config":
        if self.mode == "async" and self.round != RoundConfig():
            raise ValueError("round: deadline, over-commitment and min_completion apply to mode sync only")
        if self.mode == "async" and self.algorithm.name == "scaffold":
            raise ValueError("client.name: SCAFFOLD's control variates are not supported in mode async")
        if self.mode == "async" and self.system and self.system.stragglers.fraction > 0:
            raise ValueError("system.stragglers: FedProx-paper stragglers apply to mode sync only")
        if self.round.straggler_policy != "drop" and getattr(self.client, "steps", None) is not None:
            raise ValueError(f"round.straggler_policy: {self.round.straggler_policy} work cuts local epochs; "
                             "it does not apply when client.steps is set")
        if self.mode == "async" and self.asynchronous.concurrency > self.data.clients:
            raise ValueError(f"asynchronous.concurrency ({self.asynchronous.concurrency}) is larger "
                             f"than data.clients ({self.data.clients})")
        return self

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

    @field_validator("server", mode="after")
    @classmethod
    def _one_form(cls, server: Any) -> list[Any]:
        """The mapping form becomes the list form once, here: every consumer reads the list."""
        return server.transforms() if isinstance(server, ServerConfig) else server

    @model_validator(mode="after")
    def _algorithm_fits(self) -> "Config":
        """The named algorithm exists, its hyperparameters validate (and are stored
        resolved), and `client.*` is set only for an algorithm that trains locally."""
        from fedhive.algorithms.registry import find_algorithm, users_of

        try:
            algorithm = find_algorithm(self.algorithm.name)
        except UserError as e:
            raise ValueError(str(e)) from None
        try:
            hp = algorithm.hyperparameters.model_validate(self.algorithm.hyperparameters())
        except ValidationError as e:
            raise ValueError(_hyperparameter_errors(e, algorithm.name, users_of)) from None
        self.algorithm.__pydantic_extra__ = hp.model_dump()
        if self.mode == "async" and algorithm.sync_only:
            raise ValueError(f"algorithm.name: {algorithm.name} runs in mode sync only ({algorithm.sync_only})")
        # A field at its default is allowed: a saved config lists every field.
        changed = [f for f in sorted(self.client.model_fields_set)
                   if getattr(self.client, f) != type(self.client).model_fields[f].default]
        if changed and not algorithm.local_training:
            field = changed[0]
            raise ValueError(f"client.{field}: {algorithm.name} does not train locally; client.* applies to "
                             "local-training algorithms (fedavg, fedprox, ...)")
        return self

    @property
    def server_specs(self) -> list[TransformSpec]:
        """`server` in its list form (validation converts the mapping form to it)."""
        return self.server.transforms() if isinstance(self.server, ServerConfig) else self.server

    @model_validator(mode="after")
    def _krum_fits(self) -> "Config":
        for spec in self.server_specs:
            if isinstance(spec, (KrumSpec, MultiKrumSpec)) and self.cohort.min <= 2 * spec.f + 2:
                raise ValueError(f"server: {spec.name} with f={spec.f} needs cohort.min > 2f + 2 = {2 * spec.f + 2}")
            if isinstance(spec, BulyanSpec) and self.cohort.min < 4 * spec.f + 3:
                raise ValueError(f"server: bulyan with f={spec.f} needs cohort.min >= 4f + 3 = {4 * spec.f + 3}")
        return self


def _hyperparameter_errors(err: ValidationError, algorithm: str, users_of) -> str:
    """`algorithm.<field>: ...` for each bad hyperparameter, naming who uses an unknown one."""
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            users = users_of(field)
            parts.append(f"algorithm.{field}: not a hyperparameter of {algorithm}"
                         + (f" (used by {', '.join(users)})" if users else ""))
        else:
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], (dict, list)) else ""
            parts.append(f"algorithm.{field}: {e['msg']}{got}")
    return "; ".join(parts)


def format_validation_error(err: ValidationError) -> str:
    """One line naming every bad field, e.g. `rounds: Input should be ... (got 'abc')`."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p not in _SERVER_FORMS)
        msg = e["msg"].removeprefix("Value error, ")
        named = re.match(r"(\w+): (.*)", msg)
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif named and loc and e["type"] == "value_error":  # a section's check naming its own field
            loc, msg = f"{loc}.{named[1]}", named[2]  # (its input is the section's, not the field's)
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
        if key == "algorithm" and not isinstance(value, dict):
            key, value = "algorithm.name", value  # so algorithm.<field>=... may follow
        node = tree
        parts = key.split(".")
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise UserError(f"override {item!r}: {p} is set to a value and a section at once")
            node = child
        node[parts[-1]] = value
    return tree


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A raw config mapping with `key=value` overrides merged in, unvalidated (so a later
    override may set the same key again); `data` is left unchanged."""
    return merge_mappings(data, parse_overrides(overrides))


def merge_mappings(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` merged into a copy of `base`: sections merge key by key, a mapping into a list
    addresses its items (`_merge_into_list`), any other value replaces."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_mappings(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), list):
            out[k] = _merge_into_list(k, out[k], v)
        else:
            out[k] = v
    return out


def _merge_into_list(name: str, items: list[Any], extra: dict[str, Any]) -> list[Any]:
    """Dotted overrides into a list address items by index (`server.1.lr=0.5`), or by a field
    that exactly one item has (`server.lr=0.5`)."""
    out = list(items)
    for k, v in extra.items():
        i = int(k) if str(k).isdigit() else -1
        owners = [j for j, item in enumerate(out) if isinstance(item, dict) and k in item]
        if i < 0 and len(owners) == 1:  # `server.lr=0.5`: the one step of the chain that has an lr
            i, v = owners[0], {k: v}
        if not 0 <= i < len(out) or not isinstance(out[i], dict) or not isinstance(v, dict):
            raise UserError(f"{name} is a list of {len(out)} items: override an item as {name}.<index>.<field>=value")
        out[i] = merge_mappings(out[i], v)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error
    (plain PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML, a duplicate key or a non-mapping is a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{p}: not valid YAML ({first})") from None
    if data is None:
        raise UserError(f"{p}: the config file is empty (run without a config for the reference experiment)")
    if not isinstance(data, dict):
        raise UserError(f"{p}: the config must be a mapping of keys to values, got {type(data).__name__}")
    return data


def _with_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with the named algorithm's defaults (its `client` and `server` sections)
    merged underneath: `algorithm: fedprox` is FedProx, and anything set in `raw` wins.
    A `server` list in `raw` replaces the defaults' mapping. With no algorithm named the
    section defaults are FedSGD's, and nothing is imported (so torch is not)."""
    named = raw.get("algorithm")
    name = named.get("name") if isinstance(named, dict) else named
    if not isinstance(name, str):
        return raw
    from fedhive.algorithms.registry import find_algorithm

    defaults = {k: v for k, v in find_algorithm(name).defaults.items() if not isinstance(raw.get(k), list)}
    return merge_mappings(defaults, raw)


def build_config(data: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Validate a raw mapping plus dotted overrides into a Config, or raise UserError."""
    if isinstance(data.get("algorithm"), str):
        data = {**data, "algorithm": {"name": data["algorithm"]}}
    merged = _with_defaults(apply_overrides(data, overrides or []))
    try:
        return Config.model_validate(merged)
    except ValidationError as e:
        raise UserError(f"config error: {format_validation_error(e)}") from None


# Files a config names; a relative one in a config file is relative to that file's folder.
FILE_FIELDS = ("data.path", "data.root", "system.trace", "system.availability.trace")


def resolve_file_fields(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """`data` with the relative FILE_FIELDS it sets joined to `base` (in place)."""
    for dotted in FILE_FIELDS:
        *parents, leaf = dotted.split(".")
        node: Any = data
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(leaf), str) and not Path(node[leaf]).is_absolute():
            node[leaf] = os.path.normpath(base / node[leaf])
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the reference defaults when `path` is None) and apply overrides.
    Relative file paths in the file are relative to its folder; in overrides, to the cwd."""
    data = resolve_file_fields(read_yaml(path), Path(path).parent) if path is not None else {}
    return build_config(data, overrides)


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
