"""The transform protocol and `chain`, in the style of optax.

A transform is a pair of pure functions: `init(params) -> state` and
`update(updates, state, ctx) -> (updates, state)`. Its `stage` says what it consumes:
`client` transforms map the cohort's `[K, P]` matrix row by row (clipping), one
`aggregate` transform reduces `[K, P]` to `[P]`, and `server` transforms map `[P]` to
`[P]` (optimizers, noise). `chain` rejects members in the wrong order when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import torch

# The linear-reduction types live in a neutral module that engines import too.
from fedhive.reduction import LinearAggregate, ReducedUpdates, finite_rows  # noqa: F401

STAGES = ("client", "aggregate", "server")


@dataclass
class RoundContext:
    """What a transform may read besides the updates, and where it records diagnostics.

    `weights` are the clients' weights (sample counts), `[K]`; `metrics` collects named
    numbers (e.g. how many updates were dropped) that end up in the round's metrics row.
    `outputs` are the cohort's per-round client outputs, `{name: [K, ...]}` (SCAFFOLD's
    control-variate deltas, FedNova's step counts), for the server halves that read them.
    """

    round: int
    params: torch.Tensor
    weights: torch.Tensor
    seed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


class Transform(NamedTuple):
    """`linear` is set when the transform reads the cohort's updates only through a linear
    aggregate; it then also accepts `ReducedUpdates` in place of the `[K, P]` rows."""

    init: Callable[[torch.Tensor], Any]
    update: Callable[[torch.Tensor, Any, RoundContext], tuple[torch.Tensor, Any]]
    stage: str = "server"
    linear: LinearAggregate | None = None


def chain(*members: Transform | tuple[str, Transform]) -> Transform:
    """Compose transforms left to right. Members may be named `(name, transform)`; the
    chain's state is a dict from name (or position) to each member's state."""
    named = [m if isinstance(m, tuple) and isinstance(m[0], str) else (str(i), m) for i, m in enumerate(members)]
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"chain: duplicate member names {names}")
    _check_order(named)

    def init(params: torch.Tensor) -> dict[str, Any]:
        return {n: t.init(params) for n, t in named}

    def update(updates: torch.Tensor, state: dict[str, Any], ctx: RoundContext) -> tuple[torch.Tensor, dict[str, Any]]:
        if set(state) != set(names):
            raise ValueError(f"chain: state has members {sorted(state)}, chain has {names}")
        new_state = {}
        for n, t in named:
            updates, new_state[n] = t.update(updates, state[n], ctx)
        return updates, new_state

    stages = [t.stage for _, t in named]
    stage = "aggregate" if "aggregate" in stages else stages[0] if stages else "server"
    # A chain that starts with a linear aggregate reads its input through it alone.
    linear = named[0][1].linear if named else None
    return Transform(init, update, stage, linear)


def _check_order(named: list[tuple[str, Transform]]) -> None:
    rank = {s: i for i, s in enumerate(STAGES)}
    seen_aggregate = False
    for (prev_name, prev), (name, t) in zip(named, named[1:]):
        if rank[t.stage] < rank[prev.stage]:
            raise ValueError(
                f"chain: {name!r} ({t.stage} stage) cannot come after {prev_name!r} ({prev.stage} stage)"
            )
        if prev.stage == "client" and t.stage == "server":
            raise ValueError(f"chain: {name!r} needs an aggregate between it and {prev_name!r}")
    for _, t in named:
        if t.stage == "aggregate":
            if seen_aggregate:
                raise ValueError("chain: more than one aggregate")
            seen_aggregate = True
