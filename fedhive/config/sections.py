"""Config sections for data, model, cohort, client, server, engine and run bookkeeping."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator,
)

from fedhive.algorithms.server_specs import (
    AGGREGATES, OPTIMIZERS, SPECS, Aggregate, Optimizer, ServerChain, TransformSpec,
)
from fedhive.config.lr_schedule import LrSchedule


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads `true` as 1; and ints must fit the int64 that torch uses.
        assert info.field_name is not None  # a field validator always runs for a field
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


MODELS = ("reference", "logistic", "mlp", "cnn", "femnist_cnn", "simple_cnn", "resnet", "resnet_gn", "char_lstm",
          "word_lstm", "bag_of_words")


class PartitionConfig(Section):
    """How a dataset's samples are split among clients (fedhive/data/partition.py)."""

    name: Literal["iid", "dirichlet", "dirichlet_classes", "label_quantity", "shards", "quantity_skew", "similarity",
                  "natural"] = "iid"
    alpha: float = Field(0.5, gt=0, description="dirichlet, dirichlet_classes, quantity_skew dirichlet: Dirichlet "
                         "concentration")
    min_size: int = Field(10, ge=1, description="dirichlet_classes, quantity_skew: fewest samples a client holds")
    balanced: bool = Field(False, description="dirichlet_classes: NIID-Bench's rule, a client holding N / C samples "
                           "gets no share of later classes")
    labels_per_client: int = Field(2, ge=1, description="label_quantity: classes each client holds (#C = k)")
    shards_per_client: int = Field(2, ge=1, description="shards: label-sorted shards per client")
    sizes: Literal["lognormal", "power_law", "dirichlet"] = Field("lognormal", description="quantity_skew: the size law")
    sigma: float = Field(1.0, gt=0, description="quantity_skew lognormal: std of log sizes")
    exponent: float = Field(1.5, gt=0, description="quantity_skew power_law: Pareto tail index")
    similarity: float = Field(0.0, ge=0, le=1, description="similarity: fraction of the data shuffled IID, the rest "
                              "label-sorted blocks")


class SyntheticConfig(Section):
    """The generated federated datasets: FedProx's synthetic(alpha, beta) (per-device models
    and feature means, Li et al. 2020) and LEAF's synthetic (clustered device models)."""

    alpha: float = Field(1.0, ge=0, description="fedprox_synthetic: spread of the devices' models")
    beta: float = Field(1.0, ge=0, description="fedprox_synthetic: spread of the devices' feature means")
    iid: bool = Field(False, description="fedprox_synthetic: one shared model and feature distribution")
    features: int = Field(60, ge=1)
    classes: int | None = Field(None, ge=2, description="default 10 (fedprox_synthetic), 5 (leaf_synthetic)")
    cluster_probs: list[float] = Field(
        default_factory=lambda: [1.0], min_length=1, description="leaf_synthetic: probability of each model cluster")

    @field_validator("cluster_probs")
    @classmethod
    def _probabilities(cls, v: list[float]) -> list[float]:
        if any(p < 0 for p in v) or abs(sum(v) - 1) > 1e-9:
            raise ValueError(f"must be non-negative and sum to 1, got {v}")
        return v


class DataConfig(Section):
    """Which federated dataset, how it is split among clients and how clients' data is drawn."""

    name: Literal["reference", "fedprox_synthetic", "leaf_synthetic", "synthetic", "digits", "fashion_mnist", "idx",
                  "file", "femnist", "shakespeare", "sent140", "celeba", "fed_emnist", "fed_shakespeare",
                  "stackoverflow", "cifar10", "cifar100"] = Field(
        "reference", description="see `fedhive datasets`; synthetic = fedprox_synthetic")
    clients: int = Field(1000, ge=1, description="size of the client universe")
    batch_size: int = Field(1000, ge=1)
    batches: IntRange = Field(default_factory=lambda: IntRange(min=5, max=9))
    test_size: int = Field(1000, ge=1, description="points in the test set")
    root: str | None = Field(None, description="folder holding the dataset's files (required for idx)")
    path: str | None = Field(None, description="name=file: a saved .pt/.npz FederatedDataset, an .npz or a .csv")
    label_column: str = Field("label", description="csv: the label column")
    client_column: str | None = Field(None, description="csv/npz: the column naming each sample's client")
    vocab_size: int = Field(10000, ge=1, description="sent140, stackoverflow: the most frequent words kept")
    client_test_fraction: float = Field(
        0.2, ge=0, lt=1, description="share of each client's samples held out as its own test split"
    )
    drop_nonfinite: bool = Field(
        False, description="drop samples whose features hold NaN/Inf (warning with the count) instead of an error"
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

    @property
    def file_path(self) -> str:
        """`path`, which name=file requires (checked above)."""
        if not self.path:
            raise ValueError("path is required when name is 'file'")
        return self.path


class ModelConfig(Section):
    """The model: a registry name with its parameters, or any `module.path:Class`."""

    name: str = Field("reference", description=f"{', '.join(MODELS)} or module.path:Class")
    hidden: list[int] = Field(default_factory=lambda: [200, 200], description="mlp: hidden layer widths")
    channels: list[int] = Field(default_factory=lambda: [32, 64],
                                description="cnn: channels of its conv layers; resnet, resnet_gn: of each stage")
    dense: int = Field(512, ge=1, description="cnn: width of its dense layer")
    norm: Literal["none", "batch"] = Field("none", description="cnn: batch puts a BatchNorm2d after each convolution")
    embedding: int = Field(8, ge=1, description="char_lstm, word_lstm, bag_of_words: embedding width")
    lstm: list[int] = Field(default_factory=lambda: [256, 256], description="char_lstm, word_lstm: LSTM layer widths")
    vocab_size: int | None = Field(None, ge=2, description="bag_of_words: input vocabulary (sent140: data.vocab_size + 2)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="module.path:Class: constructor arguments")
    loss: Literal["auto", "bce", "cross_entropy", "sequence_cross_entropy"] = Field(
        "auto", description="auto: bce for the reference model, sequence_cross_entropy for word_lstm, "
        "cross_entropy otherwise"
    )

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in MODELS and not re.fullmatch(r"[\w.]+:\w+", name):
            raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)} or module.path:Class")
        return name

    @field_validator("hidden", "channels", "lstm")
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

    @property
    def poisson_rate(self) -> float:
        """`rate`, which sampler=poisson requires (checked above)."""
        if self.rate is None:
            raise ValueError("rate is required by sampler=poisson and only used by it")
        return self.rate


class AlgorithmConfig(Section):
    """Which algorithm runs, by `name` (a module of fedhive/algorithms, or a user's own
    `module.path:NAME`), and its hyperparameters: the other keys, validated against the
    algorithm's own model when the whole config is (fedhive/config/__init__.py)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False, defer_build=True)

    name: str = Field("fedsgd", description="fedsgd, fedavg, fedprox, ... or module.path:NAME")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    def hyperparameters(self) -> dict[str, Any]:
        """The algorithm's own fields, as set (resolved to all of them after validation)."""
        return dict(self.__pydantic_extra__ or {})


class ClientConfig(Section):
    """The shared local trainer of the local-training algorithms (fedavg, fedprox, ...)."""

    lr: float = Field(0.1, gt=0, description="client learning rate")
    lr_schedule: LrSchedule | None = Field(None, description="client lr over rounds (fedhive/config/lr_schedule.py)")
    epochs: int = Field(1, ge=1, description="local passes over the client's batches")
    steps: int | None = Field(None, ge=1, description="exactly this many local steps instead of epochs")
    momentum: float = Field(0.0, ge=0, lt=1, description="client SGD momentum")
    weight_decay: float = Field(0.0, ge=0, description="client L2 weight decay")

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            raise ValueError("name: the client update comes with the algorithm: set algorithm.name "
                             "(fedsgd, fedavg, fedprox, scaffold, fednova, ...)")
        if isinstance(data, dict) and "mu" in data:
            raise ValueError("mu: a hyperparameter of fedprox: set algorithm.mu (with algorithm.name=fedprox)")
        return data


# --- Server chain: the `server` section is a mapping (norm bound -> aggregate -> optimizer,
# below) or a list of transform specs (fedhive/algorithms/server_specs.py).


class ServerConfig(Section):
    """The server chain in its common shape: optional norm bound, an aggregate, then a
    server optimizer; converted to the list form when the config is validated. Setting a
    field that the chosen aggregate and optimizer do not use is an error."""

    aggregate: Aggregate = "sum"
    optimizer: Optimizer = "adam"
    lr: float = Field(1.0, gt=0)
    lr_schedule: LrSchedule | None = Field(None, description="server lr over rounds (fedhive/config/lr_schedule.py)")
    # None: the chosen transform's own default (fedhive/algorithms/server_specs.py).
    b1: float | None = Field(None, ge=0, lt=1)
    b2: float | None = Field(None, ge=0, lt=1)
    eps: float | None = Field(None, gt=0, description="denominator constant (tau in Reddi et al. 2021)")
    momentum: float | None = Field(None, ge=0, lt=1, description="server momentum (momentum)")
    bias_correction: bool | None = Field(None, description="Adam-style bias correction (default: adam yes, yogi no)")
    beta: float | None = Field(None, ge=0, lt=0.5, description="trimmed_mean: fraction trimmed from each end")
    f: int | None = Field(None, ge=0, description="krum/multi_krum/bulyan: Byzantine clients tolerated")
    m: int | None = Field(None, ge=1, description="multi_krum: updates averaged (default K - f)")
    weighted: bool = Field(False, description="multi_krum: weight the selected updates by sample count")
    max_norm: float | None = Field(None, gt=0, description="norm_bound each client update first")

    @model_validator(mode="after")
    def _fields_apply(self) -> "ServerConfig":
        chosen = [self.aggregate, self.optimizer, *(["norm_bound"] if self.max_norm is not None else [])]
        used = {"aggregate", "optimizer", "max_norm"}.union(*(SPECS[n].model_fields for n in chosen))
        for name in sorted(self.model_fields_set - used):
            users = [n for n in (*AGGREGATES, *OPTIMIZERS) if name in SPECS[n].model_fields]
            raise ValueError(f"{name}: not used by {self.aggregate} and {self.optimizer}; it applies to "
                             f"{', '.join(users)}")
        return self

    def transforms(self) -> list[TransformSpec]:
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
    compile: bool | Literal["auto"] = Field(
        False, description="torch.compile the fused gradient step's forward: true from round 1; auto only when "
        "the run's rounds repay the compile (timed on round 2)")
    fail_fast: bool = Field(False, description="re-raise a failing client update instead of dropping it (debugging)")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: the count given to "
                                                        "torch, else 1 for tiny models, else torch's")
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
    """How much of the global test set is scored, and evaluation beyond it, on each
    client's own test split."""

    max_samples: int | None = Field(None, ge=1, description="score the global test set on a fixed keyed "
                                    "subsample of this many samples, the same every round (None: all of it)")

    per_client: bool = Field(True, description="mean, 10th percentile and worst client accuracy")
    finetune_steps: int = Field(0, ge=0, description="personalized evaluation: local SGD steps first (0 = off)")
    finetune_lr: float = Field(0.1, gt=0, description="personalized evaluation: local step size")
    train_metrics: bool = Field(False, description="the global model on every client's training data: "
                                "global_train_loss and FedProx's grad_dissimilarity (a gradient per client)")
