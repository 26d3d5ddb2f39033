"""The experiment configuration: pydantic models, YAML loading and dotted overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import yaml
from pydantic import (
    BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo, field_validator, model_validator,
)

from fedhive.chain_config import AGGREGATES, OPTIMIZERS, SPECS, ServerChain
from fedhive.errors import UserError
from fedhive.presets import PRESETS, apply_preset


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


MODELS = ("reference", "logistic", "mlp", "cnn")


class PartitionConfig(Section):
    """How a dataset's samples are split among clients (fedhive/data/partition.py)."""

    name: Literal["iid", "dirichlet", "dirichlet_classes", "shards", "quantity_skew", "natural"] = "iid"
    alpha: float = Field(0.5, gt=0, description="dirichlet, dirichlet_classes: Dirichlet concentration")
    min_size: int = Field(10, ge=1, description="dirichlet_classes, quantity_skew: fewest samples a client holds")
    shards_per_client: int = Field(2, ge=1, description="shards: label-sorted shards per client")
    sizes: Literal["lognormal", "power_law"] = Field("lognormal", description="quantity_skew: the size law")
    sigma: float = Field(1.0, gt=0, description="quantity_skew lognormal: std of log sizes")
    exponent: float = Field(1.5, gt=0, description="quantity_skew power_law: Pareto tail index")


class SyntheticConfig(Section):
    """LEAF/FedProx synthetic(alpha, beta): per-device models and feature means (Li et al. 2020)."""

    alpha: float = Field(1.0, ge=0, description="spread of the devices' models")
    beta: float = Field(1.0, ge=0, description="spread of the devices' feature means")
    iid: bool = Field(False, description="one shared model and feature distribution (synthetic_iid)")
    features: int = Field(60, ge=1)
    classes: int = Field(10, ge=2)


class DataConfig(Section):
    """Which federated dataset, how it is split among clients and how clients' data is drawn."""

    name: Literal["reference", "synthetic", "digits", "fashion_mnist", "idx", "file"] = "reference"
    clients: int = Field(1000, ge=1, description="size of the client universe")
    batch_size: int = Field(1000, ge=1)
    batches: IntRange = Field(default_factory=lambda: IntRange(min=5, max=9))
    test_size: int = Field(1000, ge=1, description="points in the test set")
    root: str | None = Field(None, description="folder holding the dataset's files (required for idx)")
    path: str | None = Field(None, description="name=file: a saved .pt/.npz FederatedDataset, an .npz or a .csv")
    label_column: str = Field("label", description="csv: the label column")
    client_column: str | None = Field(None, description="csv/npz: the column naming each sample's client")
    client_test_fraction: float = Field(
        0.2, ge=0, lt=1, description="share of each client's samples held out as its own test split"
    )
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _needs_location(self) -> "DataConfig":
        if self.name == "idx" and not self.root:
            raise ValueError("root is required when name is 'idx' (a folder of MNIST-format files)")
        if self.name == "file" and not self.path:
            raise ValueError("path is required when name is 'file'")
        return self


class ModelConfig(Section):
    """The model: a registry name with its parameters, or any `module.path:Class`."""

    name: str = Field("reference", description="reference, logistic, mlp, cnn or module.path:Class")
    hidden: list[int] = Field(default_factory=lambda: [200, 200], description="mlp: hidden layer widths")
    channels: list[int] = Field(default_factory=lambda: [32, 64], description="cnn: channels of its conv layers")
    dense: int = Field(512, ge=1, description="cnn: width of its dense layer")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="module.path:Class: constructor arguments")
    loss: Literal["auto", "bce", "cross_entropy"] = Field(
        "auto", description="auto: bce for the reference model, cross_entropy otherwise"
    )

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in MODELS and not re.fullmatch(r"[\w.]+:\w+", name):
            raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)} or module.path:Class")
        return name

    @field_validator("hidden", "channels")
    @classmethod
    def _widths(cls, widths: list[int]) -> list[int]:
        if any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive (got {widths})")
        return widths


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
    """The client update: `gradient` (FedSGD), `local_sgd` (FedAvg), `proximal` (FedProx),
    `scaffold` (SCAFFOLD option II) or `fednova` (FedNova)."""

    name: Literal["gradient", "local_sgd", "proximal", "scaffold", "fednova"] = "gradient"
    lr: float = Field(0.1, gt=0, description="client learning rate (local training)")
    epochs: int = Field(1, ge=1, description="local passes over the client's batches (local training)")
    steps: int | None = Field(None, ge=1, description="exactly this many local steps instead of epochs")
    momentum: float = Field(0.0, ge=0, lt=1, description="client SGD momentum")
    weight_decay: float = Field(0.0, ge=0, description="client L2 weight decay")
    mu: float = Field(0.01, ge=0, description="FedProx proximal weight (proximal)")


# --- Server chain: the `server` section is a mapping (norm bound -> aggregate -> optimizer,
# below) or a list of transform specs (fedhive/chain_config.py).


class ServerConfig(Section):
    """The server chain in its common shape: optional norm bound, an aggregate, then a
    server optimizer. Fields that the chosen aggregate or optimizer do not use are ignored."""

    aggregate: Literal[AGGREGATES] = "sum"
    optimizer: Literal[OPTIMIZERS] = "adam"
    lr: float = Field(1.0, gt=0)
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0, description="denominator constant (tau in Reddi et al. 2021)")
    momentum: float = Field(0.9, ge=0, lt=1, description="server momentum (momentum)")
    bias_correction: bool | None = Field(None, description="Adam-style bias correction (default: adam yes, yogi no)")
    beta: float = Field(0.1, ge=0, lt=0.5, description="trimmed_mean: fraction trimmed from each end")
    f: int = Field(1, ge=0, description="krum/multi_krum: Byzantine clients tolerated")
    m: int | None = Field(None, ge=1, description="multi_krum: updates averaged (default K - f)")
    max_norm: float | None = Field(None, gt=0, description="norm_bound each client update first")

    def transforms(self) -> list[Any]:
        """The same chain as a list of transform specs."""
        names = (["norm_bound"] if self.max_norm is not None else []) + [self.aggregate, self.optimizer]
        values = {k: v for k, v in self.model_dump().items() if v is not None}
        return [SPECS[n].model_validate({"name": n, **{k: values[k] for k in SPECS[n].model_fields
                                                          if k in values}}) for n in names]


# `server` is a mapping or a list; the tags only route validation and are left out of error paths.
_SERVER_FORMS = {"server_mapping", "server_list"}
Server = Annotated[
    Union[Annotated[ServerConfig, Tag("server_mapping")], Annotated[ServerChain, Tag("server_list")]],
    Discriminator(lambda v: "server_list" if isinstance(v, list) else "server_mapping"),
]


class AttackConfig(Section):
    """Malicious clients for robustness studies: each round, `fraction` of the sampled
    clients (chosen by the keyed generator) send an attacked update."""

    name: Literal["sign_flip", "scale", "gaussian", "label_flip", "nan"]
    fraction: float = Field(0.2, ge=0, le=1, description="fraction of each cohort that is malicious")
    factor: float = Field(4.0, description="sign_flip sends -factor * update; scale sends factor * update")
    std: float = Field(1.0, gt=0, description="gaussian: the std of the random update sent")


class EngineConfig(Section):
    """Which engine runs the client updates, and how the vectorized one chunks the cohort."""

    name: Literal["vectorized", "sequential", "distributed"] = "vectorized"
    chunk_size: int | None = Field(None, ge=1, description="clients per vectorized call; default: from max_memory_mb")
    max_memory_mb: float = Field(1024.0, gt=0, description="memory bound used to derive chunk_size")
    fused: bool = Field(True, description="one forward/backward per chunk where exact (gradient update, linear aggregate)")
    compile: bool = Field(False, description="torch.compile the fused gradient path (its forward and backward)")
    fail_fast: bool = Field(False, description="re-raise a failing client update instead of dropping it (debugging)")
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


class CheckpointConfig(Section):
    """When the run folder's `checkpoints/` is written, and how many files are kept."""

    every: int = Field(10, ge=0, description="rounds between checkpoints; 0: only at the end (and on a stop)")
    keep: int = Field(3, ge=1, description="how many of the newest checkpoints are kept")


class FaultsConfig(Section):
    """What the round loop tolerates: rounds where no client update is usable are skipped."""

    max_empty_rounds: int = Field(5, ge=1, description="consecutive skipped rounds before the run stops")


class EvalConfig(Section):
    """Evaluation beyond the global test set, on each client's own test split."""

    per_client: bool = Field(True, description="mean, 10th percentile and worst client accuracy")
    finetune_steps: int = Field(0, ge=0, description="personalized evaluation: local SGD steps first (0 = off)")
    finetune_lr: float = Field(0.1, gt=0, description="personalized evaluation: local step size")


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


# --- system heterogeneity, simulated clock and asynchronous training -----------------


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
    """FedProx-paper stragglers: `fraction` of each cohort does randint(min_epochs, E) of
    its E local passes' worth of work."""

    fraction: float = Field(0.0, ge=0, le=1)
    min_epochs: int = Field(1, ge=1)


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
    straggler_policy: Literal["drop", "partial"] = "drop"
    overcommit: float = Field(1.0, ge=1, description="select ceil(overcommit*K), keep the K first")
    min_completion: int = Field(1, ge=0, description="skip the server step when fewer arrive")


class AsyncConfig(Section):
    """Asynchronous training (`mode: async`): FedBuff / FedAsync on the simulated clock."""

    concurrency: int = Field(100, ge=1, description="clients in flight (closed loop)")
    arrival_rate: float | None = Field(None, gt=0, description="Poisson starts per second (open loop)")
    buffer_size: int = Field(10, ge=1, description="updates per server step (1 = FedAsync)")
    staleness: Literal["constant", "polynomial", "hinge"] = "constant"
    a: float = Field(0.5, ge=0, description="polynomial exponent / hinge slope")
    b: float = Field(10.0, ge=0, description="hinge: staleness tolerated before decay")
    example_weight: Literal["equal", "linear", "sqrt"] = Field(
        "linear", description="the aggregate's client weight: 1, samples or sqrt(samples)")
    max_staleness: int | None = Field(None, ge=0, description="older updates are dropped")
    mixing_rate: float = Field(1.0, gt=0, le=1, description="FedAsync alpha: scales every step")
    stacked: bool = Field(True, description="train clients of several model versions in one vmap")
    chunk_size: int = Field(512, ge=1, description="clients per stacked vmap call")


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
    server: Server = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    faults: FaultsConfig = Field(default_factory=FaultsConfig)
    algorithm: Literal[tuple(PRESETS)] | None = Field(None, description="a preset filling client and server")
    attack: AttackConfig | None = None
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    mode: Literal["sync", "async"] = "sync"
    system: SystemConfig | None = Field(None, description="device/network model; none = homogeneous")
    round: RoundConfig = Field(default_factory=RoundConfig)
    asynchronous: AsyncConfig = Field(default_factory=AsyncConfig)

    @model_validator(mode="after")
    def _mode_fits(self) -> "Config":
        if self.mode == "async" and self.round != RoundConfig():
            raise ValueError("round: deadline, over-commitment and min_completion apply to mode sync only")
        if self.mode == "async" and self.client.name == "scaffold":
            raise ValueError("client.name: SCAFFOLD's control variates are not supported in mode async")
        if self.mode == "async" and self.system and self.system.stragglers.fraction > 0:
            raise ValueError("system.stragglers: FedProx-paper stragglers apply to mode sync only")
        if self.round.straggler_policy == "partial" and getattr(self.client, "steps", None) is not None:
            raise ValueError("round.straggler_policy: partial work cuts local epochs; it does not apply "
                             "when client.steps is set")
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

    @model_validator(mode="after")
    def _krum_fits(self) -> "Config":
        specs = self.server.transforms() if isinstance(self.server, ServerConfig) else self.server
        for spec in specs:
            if spec.name in ("krum", "multi_krum") and self.cohort.min <= 2 * spec.f + 2:
                raise ValueError(f"server: {spec.name} with f={spec.f} needs cohort.min > 2f + 2 = {2 * spec.f + 2}")
        return self


def format_validation_error(err: ValidationError) -> str:
    """One line naming every bad field, e.g. `rounds: Input should be ... (got 'abc')`."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p not in _SERVER_FORMS)
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
        elif isinstance(v, dict) and isinstance(out.get(k), list):
            out[k] = _merge_into_list(k, out[k], v)
        else:
            out[k] = v
    return out


def _merge_into_list(name: str, items: list[Any], extra: dict[str, Any]) -> list[Any]:
    """Dotted overrides into a list address items by index: `server.1.lr=0.5`."""
    out = list(items)
    for k, v in extra.items():
        i = int(k) if str(k).isdigit() else -1
        if not 0 <= i < len(out) or not isinstance(out[i], dict) or not isinstance(v, dict):
            raise UserError(f"{name} is a list of {len(out)} items: override an item as {name}.<index>.<field>=value")
        out[i] = _merge(out[i], v)
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
    merged = apply_preset(_merge(data, parse_overrides(overrides or [])), _merge)
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
