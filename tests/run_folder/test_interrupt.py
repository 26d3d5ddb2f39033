"""A second Ctrl-C (or an exception) mid-round never checkpoints half a round: resume is bit-exact."""

from __future__ import annotations

import signal

import pytest

from fedhive.config import load_config
from fedhive.experiment import Experiment
from fedhive.run_folder.resume import resume_experiment
from tests.run_folder.test_resume import ALGORITHMS, SMALL, assert_same_run, uninterrupted

CASES = {name: overrides for name, overrides in ALGORITHMS if name in ("system_sync", "async_fedbuff")}
ROUNDS, BREAK_AT = 7, 5  # checkpoints every 4 rounds (SMALL): the break comes after one, before the next


def double_sigint() -> None:
    """What a user's two Ctrl-C do: the first asks for a stop, the second stops at once."""
    signal.raise_signal(signal.SIGINT)
    signal.raise_signal(signal.SIGINT)


def break_mid_round(exp: Experiment, interrupt) -> None:
    """Call `interrupt` in round BREAK_AT + 1, after its clock or event queue has moved."""
    if exp.asynchronous is not None:
        runner, step = exp.asynchronous, exp.asynchronous._buffered_cohort
        runner._buffered_cohort = lambda: (interrupt() if exp.round == BREAK_AT else None, step())[1]
    else:
        run = exp.engine.run
        exp.engine.run = lambda *a, **k: (interrupt() if a[3] == BREAK_AT else None, run(*a, **k))[1]


def boom() -> None:
    raise RuntimeError("a bug mid-round")


@pytest.mark.parametrize("interrupt, error", [(double_sigint, KeyboardInterrupt), (boom, RuntimeError)],
                         ids=["double_sigint", "exception"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_round_broken_off_is_never_checkpointed(tmp_path, name, interrupt, error):
    overrides = CASES[name]
    config = load_config(None, [*SMALL, *overrides, f"rounds={ROUNDS}", f"output_dir={tmp_path}", "name=broken"])
    exp = Experiment(config)
    break_mid_round(exp, interrupt)
    with pytest.raises(error):
        exp.run()
    assert exp.round == BREAK_AT  # the round in progress never finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resume_experiment(exp.run_dir).run()

    assert_same_run(uninterrupted(tmp_path, overrides, ROUNDS), exp.run_dir)
