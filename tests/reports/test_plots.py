"""Run plots: each PNG is loaded back and must show data inside its axes where the run has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedhive.data.describe import plot_label_distribution
from fedhive.reports.plots import plot_rows, run_title


def axes_box(img: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixel bounds of the axes: the long dark spine lines."""
    dark = img[..., :3].max(-1) < 0.3
    rows = np.flatnonzero(dark.sum(1) > 0.3 * img.shape[1])
    cols = np.flatnonzero(dark.sum(0) > 0.3 * img.shape[0])
    assert len(rows) >= 2 and len(cols) >= 2, "no axes frame found"
    return rows[0], rows[-1], cols[0], cols[-1]


def colored(img: np.ndarray) -> np.ndarray:
    """Saturated pixels: curves, markers and bars (text, spines and grid are gray)."""
    rgb = img[..., :3]
    return rgb.max(-1) - rgb.min(-1) > 0.25


def data_pixels(path: Path) -> int:
    """Colored pixels strictly inside the axes (legends are drawn outside them)."""
    import matplotlib.image

    img = matplotlib.image.imread(path)
    top, bottom, left, right = axes_box(img)
    return int(colored(img)[top + 2:bottom - 1, left + 2:right - 1].sum())


def rows_of_a_short_run() -> list[dict]:
    """Five rounds, evaluated once (round 5): the smoke-run shape whose curves were empty."""
    rows = []
    for r in range(1, 6):
        last = r == 5
        rows.append({"round": r, "train_loss": 0.7 - 0.05 * r, "test_loss": 0.5 if last else None,
                     "test_accuracy": 0.8 if last else None, "client_accuracy_mean": 0.7 if last else None,
                     "client_accuracy_p10": 0.5 if last else None, "client_accuracy_min": 0.3 if last else None,
                     "epsilon": 0.4 * r, "bytes_up": 1000, "bytes_down": 2000, "sim_time": 3.0 * r})
    return rows


CONFIG = {"data": {"name": "digits", "partition": {"name": "dirichlet", "alpha": 0.1}},
          "algorithm": "fedavg", "client": {"name": "local_sgd"},
          "server": {"aggregate": "weighted_mean", "optimizer": "sgd"}, "cohort": {"min": 10, "max": 10},
          "privacy": {"mechanism": "central", "target_epsilon": 2.0}, "compression": {"name": "qsgd"}}


def test_every_curve_of_a_short_run_shows_its_points(tmp_path):
    paths = plot_rows(rows_of_a_short_run(), tmp_path, title="short", config=CONFIG)
    names = sorted(p.stem for p in paths)
    assert names == ["accuracy", "bytes", "client_accuracy", "epsilon", "loss", "sim_time", "time_to_accuracy"]
    for path in paths:
        assert data_pixels(path) > 20, f"{path.name} shows no data"


def test_curves_of_features_that_are_off_are_not_drawn(tmp_path):
    config = {**CONFIG, "privacy": {"mechanism": "none"}, "compression": {"name": "none"}}
    rows = [{k: v for k, v in r.items() if k not in ("epsilon", "sim_time")} for r in rows_of_a_short_run()]
    assert sorted(p.stem for p in plot_rows(rows, tmp_path, config=config)) == ["accuracy", "client_accuracy", "loss"]


def test_the_title_names_dataset_algorithm_and_key_settings():
    title = run_title(CONFIG, "r1")
    assert title == "r1\ndigits, fedavg (weighted_mean+sgd), K=10, dirichlet α=0.1, central DP ε=2.0, qsgd"


def test_the_title_of_a_resolved_config_names_the_algorithm():
    from fedhive.config import load_config

    config = load_config(None, ["algorithm=fedprox"]).model_dump(mode="json")
    assert run_title(config, "r1") == "r1\nreference, fedprox (weighted_mean+sgd), K=20..29"


def test_label_distribution_shows_small_clients_beside_a_huge_one(tmp_path):
    import matplotlib.image

    counts = torch.tensor([[3, 2], [4000, 1000], [1, 6]])
    path = plot_label_distribution(counts, tmp_path / "labels.png")
    img = matplotlib.image.imread(path)
    top, bottom, left, right = axes_box(img)
    # The lower part of the frame is the per-client fraction panel: every client's column is filled.
    band = colored(img)[bottom - (bottom - top) // 3:bottom - 1, left + 2:right - 1]
    thirds = np.array_split(band.sum(0), 3)
    assert all(third.sum() > 100 for third in thirds)


@pytest.mark.parametrize("counts, scale", [([[3, 2], [4000, 1000], [1, 6]], "log"), ([[20, 9], [15, 14]], "linear")])
def test_client_sizes_are_on_a_log_scale_only_when_skewed(counts, scale, tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr("fedhive.data.describe.save_figure", lambda fig, path: figures.append(fig))
    plot_label_distribution(torch.tensor(counts), tmp_path / "labels.png")
    assert figures[0].axes[0].get_yscale() == scale


@pytest.mark.parametrize("rows", [[], [{"round": 1, "train_loss": None, "test_accuracy": None}]])
def test_a_run_without_evaluations_still_draws_its_axes(rows, tmp_path):
    paths = plot_rows(rows, tmp_path)
    assert sorted(p.stem for p in paths) == ["accuracy", "loss"] and all(p.is_file() for p in paths)
