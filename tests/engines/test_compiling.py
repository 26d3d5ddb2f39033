"""engine.compile: the cost rule (compile only when the run repays it, saying so once when
not), and the compiled fused step: one graph, equal to the eager step."""

from __future__ import annotations

import pytest
import torch

from fedhive.config import load_config
from fedhive.engines.compiling import CompileRule, pays
from fedhive.experiment import Experiment
from fedhive.server.aggregate import sum_updates


def test_compiling_pays_only_when_the_saving_over_the_run_exceeds_one_compile():
    assert not pays(0.005, 100)  # the reference run: 5 ms a round saves at most ~0.4 s
    assert pays(0.005, 2000)
    assert pays(1.0, 10) and not pays(1.0, 5)  # 0.75 s saved per round against 4 s


class Fused:
    """A stand-in fused step that records whether it was compiled."""

    def __call__(self, *args):
        return "eager"

    def compiled(self, compile):
        return lambda *args: "compiled"


@pytest.fixture
def no_torch_compile(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)


def test_the_rule_times_round_two_then_keeps_its_decision(no_torch_compile, capsys):
    fused = Fused()
    short = CompileRule("auto", rounds=100)
    long = CompileRule("auto", rounds=100_000)
    for rule in (short, long):
        for r in range(2):
            assert rule.pick(fused, r)() == "eager"
            rule.spent(r, 10.0 if r == 0 else 0.005)  # round 0's first-call cost is not counted
    assert short.pick(fused, 2)() == "eager" and short.pick(fused, 50)() == "eager" and short.decided is False
    assert long.pick(fused, 2)() == "compiled" and long.decided is True
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0] == ("fedhive: engine.compile: not compiling: 98 rounds of 5.0 ms of fused work would not repay "
                      "a compile (~4 s); engine.compile=true compiles anyway")


@pytest.mark.parametrize("setting, rounds, expected", [
    (False, 10**6, "eager"), (True, 3, "compiled"), ("auto", None, "compiled"),
])
def test_off_always_and_unknown_length_decide_at_once(no_torch_compile, setting, rounds, expected):
    assert CompileRule(setting, rounds).pick(Fused(), 0)() == expected


def test_a_short_run_with_compile_auto_runs_eager_and_gives_the_same_metrics(capsys):
    base = ["rounds=4", "data.batches.min=1", "data.batches.max=2", "data.batch_size=50"]
    eager = Experiment(load_config(None, base)).run(save=False)
    exp = Experiment(load_config(None, [*base, "engine.compile=auto"]))
    got = exp.run(save=False)
    assert [h["test_loss"] for h in got] == [h["test_loss"] for h in eager]  # bit for bit: nothing compiled
    assert capsys.readouterr().err.count("engine.compile: not compiling: 2 rounds") == 1
    assert exp.engine.state_dict()["compiled"] == 0.0


def test_the_decision_survives_a_resume():
    exp = Experiment(load_config(None, ["rounds=4", "engine.compile=auto"]))
    exp.engine.load_state_dict({"bytes_per_client": 0.0, "compiled": 1.0})
    assert exp.engine._compile.decided is True
    exp.engine.load_state_dict({"bytes_per_client": 0.0})  # a checkpoint from before the rule
    assert exp.engine._compile.decided is True


@pytest.mark.slow
def test_the_compiled_fused_step_is_one_graph_and_equals_the_eager_step():
    exp = Experiment(load_config(None, ["data.batches.min=1", "data.batches.max=3", "data.batch_size=20"]))
    fused = exp.algorithm.client_update.cohort_sum
    data = exp.dataset.cohort_steps(0, [3, 8, 1])
    coef = sum_updates().linear.coef
    whole = fused.compiled(lambda fn: torch.compile(fn, dynamic=True, fullgraph=True))  # a graph break raises
    for params in (exp.params, exp.params * 0.5 + 0.1):  # a second call reuses the graph
        want, got = fused(params, data, coef), whole(params, data, coef)
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[1], want[1])
        torch.testing.assert_close(got[2]["loss"], want[2]["loss"], rtol=1e-5, atol=1e-6)
