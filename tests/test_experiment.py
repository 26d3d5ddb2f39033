"""The reference experiment end to end: learning, determinism, run folder, Python API."""

import json

import pytest
import torch

from fedhive import Experiment, load_config, run
from fedhive.run_folder.recorder import read_metrics


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_reaches_99_percent(seed, tmp_path):
    config = load_config(None, [f"seed={seed}", f"output_dir={tmp_path}"])
    history = Experiment(config).run(save=False)
    assert len(history) == 100
    assert history[-1]["test_accuracy"] >= 0.99
    assert history[-1]["test_loss"] < history[0]["test_loss"] / 2


def test_same_seed_same_metrics_twice(small_config):
    strip = lambda h: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in h]  # noqa: E731
    a = strip(Experiment(small_config).run(save=False))
    b = strip(Experiment(small_config).run(save=False))
    assert a == b
    c = strip(Experiment(small_config.model_copy(update={"seed": 1})).run(save=False))
    assert a != c


def test_rows_count_clients_and_samples(small_config):
    exp = Experiment(small_config)
    history = exp.run(save=False)
    for r, row in enumerate(history):
        ids = exp.sampler(r)
        assert row["round"] == r + 1 and row["clients"] == len(ids)
        assert 5000 * len(ids) <= row["samples"] <= 9000 * len(ids) and row["samples"] % 1000 == 0
        assert row["dropped"] == 0 and 0 <= row["test_accuracy"] <= 1


def test_round_is_fedsgd_with_adam(small_config):
    """One round by hand: sum of client gradients, then torch.optim.Adam(lr=1)."""
    exp = Experiment(small_config)
    p0 = exp.params.clone()
    ids = exp.sampler(0).tolist()
    grads = exp.engine.run(exp.algorithm.client_update, p0, exp.dataset, 0, ids).updates.sum(0)
    exp.step()
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.Adam([p], lr=1.0)
    p.grad = grads
    opt.step()
    torch.testing.assert_close(exp.params, p.detach())


def test_run_folder_contents(small_config):
    exp = Experiment(small_config)
    exp.run()
    d = exp.run_dir
    assert str(d.parent) == small_config.output_dir and d.is_dir()
    rows = read_metrics(d)
    assert [r["round"] for r in rows] == [1, 2, 3, 4, 5]
    for col in ("train_loss", "test_loss", "test_accuracy", "clients", "samples", "wall_s", "round_s"):
        assert col in rows[0]
    csv_lines = (d / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 6 and csv_lines[0].startswith("round,train_loss")
    assert load_config(d / "config.yaml") == small_config
    summary = json.loads((d / "summary.json").read_text())
    assert summary["rounds"] == 5 and summary["final_test_accuracy"] == rows[-1]["test_accuracy"]
    for name in ("loss", "accuracy"):
        assert (d / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_never_overwrite(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "rounds=1", "name=same"])
    first, second = Experiment(cfg), Experiment(cfg)
    first.run()
    second.run()
    assert first.run_dir.name == "same" and second.run_dir.name == "same-2"


def test_eval_every_skips_evaluation_between(tmp_path):
    history = run(None, [f"output_dir={tmp_path}", "rounds=5", "eval_every=2"], save=False)
    assert [r["test_accuracy"] is not None for r in history] == [False, True, False, True, True]


def test_a_signal_that_arrives_while_ranks_compare_is_kept_for_the_next_round(small_config):
    """The race that kept distributed ranks running after one Ctrl-C: the signal lands
    during the ranks' comparison, which answers "no signal" for this round."""
    import os
    import signal

    from fedhive.errors import RunStopped

    exp = Experiment(small_config.model_copy(update={"rounds": 10}))
    asked: list[int | None] = []

    def agree_stop(round: int, signum: int | None) -> int | None:
        asked.append(signum)
        if round == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-comparison ...
            return None  # ... which had found no signal on any rank
        return signum

    exp.engine.agree_stop = agree_stop
    with pytest.raises(RunStopped) as stopped:
        exp.run(quiet=True, save=False)
    assert stopped.value.signum == signal.SIGINT and exp.round == 3
    assert asked == [None, None, None, signal.SIGINT]
