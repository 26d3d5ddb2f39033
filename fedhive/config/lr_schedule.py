"""Learning-rate schedules over rounds: the `lr_schedule` config and the function of the round it builds.

A schedule scales a configured `lr` by a factor of `t`, the number of rounds already run
(0 in round 1; in mode async, the model version a client starts from or the server steps
from). It depends on nothing else, so a resumed run gets the same values as an
uninterrupted one and every engine gets the same float. Names follow PyTorch's and
optax's schedulers: during the first `warmup` rounds the lr rises linearly,
`lr (t + 1) / (warmup + 1)`; then, with `s = t - warmup`:

- `constant`: `lr`
- `step`: `lr gamma^floor(s / step_size)` (StepLR)
- `exponential`: `lr gamma^s` (ExponentialLR)
- `cosine`: `lr (m + (1 - m) (1 + cos(pi min(s, T) / T)) / 2)`, `T = decay_rounds`,
  `m = min_factor` (optax's cosine_decay_schedule; alpha there). `decay_rounds` is
  required rather than taken from `rounds`, so extending a run does not rewrite its past.

Torch-free, like all config.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# `t -> lr`, `t` the number of rounds already run.
Schedule = Callable[[int], float]

# The fields each schedule reads besides `warmup`; those it needs have no default.
_USES = {"constant": (), "step": ("gamma", "step_size"), "exponential": ("gamma",),
         "cosine": ("decay_rounds", "min_factor")}
_REQUIRED = ("gamma", "step_size", "decay_rounds")


class LrSchedule(BaseModel):
    """How a learning rate changes over rounds (see the module docstring for the formulas).
    `client.lr_schedule: cosine` is short for `{name: cosine}`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, frozen=True, defer_build=True)

    name: Literal["constant", "step", "exponential", "cosine"] = Field(
        description="how lr changes after the warm-up (README: Learning-rate schedules)")
    warmup: int = Field(0, ge=0, description="rounds of linear warm-up to lr before the schedule starts")
    gamma: float | None = Field(None, gt=0, le=1, description="step, exponential: the decay factor "
                                                               "(per step_size rounds; per round)")
    step_size: int | None = Field(None, ge=1, description="step: rounds between two decays")
    decay_rounds: int | None = Field(None, ge=1, description="cosine: rounds from lr down to min_factor lr")
    min_factor: float = Field(0.0, ge=0, le=1, description="cosine: the final lr as a fraction of lr")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _fields_apply(self) -> "LrSchedule":
        uses = _USES[self.name]
        for name in _REQUIRED:
            if name in uses and getattr(self, name) is None:
                raise ValueError(f"{name}: required by the {self.name} schedule")
        for name in (*_REQUIRED, "min_factor"):
            if name not in uses and getattr(self, name) != type(self).model_fields[name].default:
                users = [s for s, fields in _USES.items() if name in fields]
                raise ValueError(f"{name}: not used by the {self.name} schedule; it applies to {', '.join(users)}")
        return self

    def factor(self, t: int) -> float:
        """The multiplier of lr after `t` rounds."""
        if t < self.warmup:
            return (t + 1) / (self.warmup + 1)
        s = t - self.warmup
        # the validator above has made sure that the fields a schedule uses are set
        if self.name == "step":
            assert self.gamma is not None and self.step_size is not None
            return self.gamma ** (s // self.step_size)
        if self.name == "exponential":
            assert self.gamma is not None
            return self.gamma**s
        if self.name == "cosine":
            assert self.decay_rounds is not None
            cosine = (1 + math.cos(math.pi * min(s, self.decay_rounds) / self.decay_rounds)) / 2
            return self.min_factor + (1 - self.min_factor) * cosine
        return 1.0


def build_schedule(spec: LrSchedule | None, lr: float) -> Schedule | None:
    """`t -> lr * spec.factor(t)`, or None when no schedule is configured (a constant lr)."""
    if spec is None:
        return None
    return lambda t: lr * spec.factor(t)
