"""The plot helper process: the same PNG bytes as drawing in-process, and a helper that is
gone or never asked leaves nothing behind."""

from __future__ import annotations

import math

from fedhive.reports.plot_process import PlotProcess
from fedhive.reports.plots import plot_rows

ROWS = [{"round": r, "train_loss": 1.0 / r, "test_loss": math.nan if r == 2 else 1.2 / r,
         "test_accuracy": 0.5 + 0.1 * r} for r in range(1, 5)]
CONFIG = {"data": {"name": "reference"}, "algorithm": {"name": "fedavg"}}


def pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_the_helper_draws_what_plot_rows_draws(tmp_path):
    here = plot_rows(ROWS, tmp_path / "here", title="run", config=CONFIG)
    with PlotProcess() as helper:
        there = helper.plot_rows(ROWS, tmp_path / "there", title="run", config=CONFIG)
    assert [p.name for p in there] == [p.name for p in here] == ["loss.png", "accuracy.png"]
    assert pngs(tmp_path / "there") == pngs(tmp_path / "here")


def test_a_helper_that_is_gone_leaves_the_drawing_to_this_process(tmp_path):
    plot_rows(ROWS, tmp_path / "here", title="run")
    helper = PlotProcess()
    helper.proc.kill()
    helper.proc.wait()
    assert [p.name for p in helper.plot_rows(ROWS, tmp_path / "there", title="run")] == ["loss.png", "accuracy.png"]
    assert pngs(tmp_path / "there") == pngs(tmp_path / "here")


def test_leaving_stops_a_helper_never_asked(tmp_path):
    with PlotProcess() as helper:
        proc = helper.proc
    assert proc.poll() is not None and helper.proc is None
    assert not list(tmp_path.iterdir())
