"""The list form of the `server` config: one validated spec per server transform.

Each spec names its transform (the `name` tag) and its chain stage; its defaults are
those of the transform's factory (tests/server/test_specs.py holds them equal); a list must read
client-stage transforms, then exactly one aggregate, then server-stage transforms, so a
wrong order is a config error before anything runs. Torch-free, like all config.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fedhive.config.lr_schedule import LrSchedule

Aggregate = Literal["sum", "mean", "weighted_mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan"]
Optimizer = Literal["sgd", "momentum", "adam", "yogi", "adagrad"]
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)
    stage: ClassVar[str] = "aggregate"


class SumSpec(_Spec):
    name: Literal["sum"]


class MeanSpec(_Spec):
    name: Literal["mean"]


class WeightedMeanSpec(_Spec):
    name: Literal["weighted_mean"]


class MedianSpec(_Spec):
    name: Literal["median"]


class TrimmedMeanSpec(_Spec):
    name: Literal["trimmed_mean"]
    beta: float = Field(0.1, ge=0, lt=0.5, description="fraction trimmed from each end")


class KrumSpec(_Spec):
    name: Literal["krum"]
    f: int = Field(1, ge=0, description="number of Byzantine clients tolerated")


class MultiKrumSpec(_Spec):
    name: Literal["multi_krum"]
    f: int = Field(1, ge=0, description="number of Byzantine clients tolerated")
    m: int | None = Field(None, ge=1, description="updates averaged (default K - f)")
    weighted: bool = Field(False, description="weight the selected updates by sample count (Flower); "
                                              "uniform is the paper's rule")


class BulyanSpec(_Spec):
    name: Literal["bulyan"]
    f: int = Field(1, ge=0, description="number of Byzantine clients tolerated (needs K >= 4f + 3)")


class NormBoundSpec(_Spec):
    stage: ClassVar[str] = "client"
    name: Literal["norm_bound"]
    max_norm: float = Field(gt=0)


class OptimizerSpec(_Spec):
    # The server optimizers share lr and its schedule; each subclass narrows `name` to its tag.
    stage: ClassVar[str] = "server"
    name: str
    lr: float = Field(1.0, gt=0)
    lr_schedule: LrSchedule | None = Field(None, description="lr over rounds (fedhive/config/lr_schedule.py); none: constant")


class SgdSpec(OptimizerSpec):
    name: Literal["sgd"]


class MomentumSpec(OptimizerSpec):
    name: Literal["momentum"]
    momentum: float = Field(0.9, ge=0, lt=1)


class _AdaptiveSpec(OptimizerSpec):
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0, description="denominator constant (tau in Reddi et al. 2021)")
    bias_correction: bool = True


class AdamSpec(_AdaptiveSpec):
    name: Literal["adam"]


class YogiSpec(_AdaptiveSpec):
    name: Literal["yogi"]
    eps: float = Field(1e-3, gt=0, description="denominator constant (tau in Reddi et al. 2021)")
    bias_correction: bool = False


class AdagradSpec(OptimizerSpec):
    name: Literal["adagrad"]
    b1: float = Field(0.0, ge=0, lt=1)
    eps: float = Field(1e-3, gt=0, description="denominator constant (tau in Reddi et al. 2021)")


TransformSpec = Annotated[
    Union[SumSpec, MeanSpec, WeightedMeanSpec, MedianSpec, TrimmedMeanSpec, KrumSpec, MultiKrumSpec, BulyanSpec,
          NormBoundSpec, SgdSpec, MomentumSpec, AdamSpec, YogiSpec, AdagradSpec],
    Field(discriminator="name"),
]
SPECS = {get_args(c.model_fields["name"].annotation)[0]: c for c in get_args(get_args(TransformSpec)[0])}


def _check_chain(specs: list[Any]) -> list[Any]:
    ranks = [("client", "aggregate", "server").index(s.stage) for s in specs]
    if sum(s.stage == "aggregate" for s in specs) != 1:
        raise ValueError(f"needs exactly one aggregate ({', '.join(AGGREGATES)})")
    if ranks != sorted(ranks):
        raise ValueError("order must be client-stage transforms (norm_bound), the aggregate, then server transforms")
    return specs


ServerChain = Annotated[list[TransformSpec], AfterValidator(_check_chain)]
