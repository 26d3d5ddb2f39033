"""When `engine.compile` compiles the fused gradient step: a cost rule, and a compile that falls back."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from fedhive.client.update import CohortSum

# One compile of the fused step with a warm inductor cache, on a 2-core CPU: 2.6-4.6 s
# (about 50 s with a cold cache or on a busy machine, so this is the optimistic side).
COMPILE_S = 4.0
# The share of an eager fused call that the compiled call saves: measured 0.25-0.75
# on the reference workload (bench/README.md "Compile"); the optimistic side again.
SAVING = 0.75
TIMED_ROUND = 1  # round 0 pays first-call costs (imports, allocations): time the next one


def pays(eager_round_s: float, rounds_left: int) -> bool:
    """Whether compiling repays its cost within the run: the eager fused time of one round
    times the share saved, over the rounds still to run, against one compile."""
    return eager_round_s * SAVING * rounds_left > COMPILE_S


class CompileRule:
    """Picks the eager or the compiled fused step, round by round. `setting` is
    engine.compile: False never compiles, True compiles from the first call, "auto" runs
    round TIMED_ROUND eagerly, times it and compiles only if `pays` over the `rounds` of
    the run (unknown `rounds`: compiles). "auto" is opt-in because its choice rests on a
    timing, and compiled and eager sums can differ in the last bits."""

    def __init__(self, setting: bool | str, rounds: int | None):
        self.rounds = rounds
        self.decided: bool | None = None if setting == "auto" and rounds is not None else bool(setting)
        self._timed = 0.0
        self._calls: dict[int, Callable] = {}

    def spent(self, round: int, seconds: float) -> None:
        """Record `seconds` of eager fused work in `round`."""
        if self.decided is None and round == TIMED_ROUND:
            self._timed += seconds

    def pick(self, fused: CohortSum, round: int) -> Callable:
        """`fused` as it is or compiled (`CohortSum.compiled`), as the rule says for `round`."""
        if self.decided is None and self.rounds is not None and round > TIMED_ROUND and self._timed > 0:
            self.decided = pays(self._timed, self.rounds - round)
            if not self.decided:
                print(f"fedhive: engine.compile: not compiling: {self.rounds - round} rounds of "
                      f"{self._timed * 1e3:.1f} ms of fused work would not repay a compile (~{COMPILE_S:.0f} s); "
                      "engine.compile=true compiles anyway", file=sys.stderr)
        if not self.decided:
            return fused
        if id(fused) not in self._calls:
            self._calls[id(fused)] = fused.compiled(compile_or_fallback)
        return self._calls[id(fused)]


def compile_or_fallback(fn: Callable) -> Callable:
    """`torch.compile(fn)`, falling back for good to `fn` (with one line on stderr) if
    compiling fails; an error of `fn` itself then surfaces from the uncompiled call."""
    compiled = torch.compile(fn, dynamic=True)
    failed = False

    def call(*args):
        nonlocal failed
        if not failed:
            try:
                return compiled(*args)
            except Exception as e:
                failed = True
                first = (str(e).strip().splitlines() or [""])[0][:160]
                print(f"fedhive: engine.compile: torch.compile failed, running uncompiled ({type(e).__name__}: {first})",
                      file=sys.stderr)
        return fn(*args)

    return call
