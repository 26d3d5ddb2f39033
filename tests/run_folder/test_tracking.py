"""Trackers: TensorBoard event files hold every metric column; MLflow a run with params,
metrics and plots; a tracker that is not installed is a one-line error naming the extra."""

from __future__ import annotations

import importlib.util

import pytest

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment

TINY = ["rounds=3", "data.batch_size=200", "data.batches.min=1", "data.batches.max=2", "cohort.min=3", "cohort.max=4"]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_has_every_metric_column_and_the_config(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(None, [*TINY, f"output_dir={tmp_path}", "name=tb", "tracking=[tensorboard]"])
    history = Experiment(config).run()
    acc = EventAccumulator(str(tmp_path / "tb/tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    columns = {k for row in history for k, v in row.items() if k != "round" and isinstance(v, (int, float))}
    assert columns >= {"train_loss", "test_accuracy", "test_loss", "clients", "samples", "bytes_up", "wall_s"}
    assert set(acc.Tags()["scalars"]) == columns
    accuracy = acc.Scalars("test_accuracy")
    assert [(e.step, e.value) for e in accuracy] == [(r["round"], pytest.approx(r["test_accuracy"])) for r in history]
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "rounds: 3" in text and "tracking:\n- tensorboard" in text


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed")
def test_mlflow_logs_params_metrics_and_plots(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what the tracker sets, undone after the test
    config = load_config(None, [*TINY, f"output_dir={tmp_path}", "name=ml", "tracking=[mlflow]"])
    history = Experiment(config).run()
    run_id = (tmp_path / "ml/mlflow_run_id").read_text()
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.get_run(run_id)
    assert run.data.params["rounds"] == "3" and run.data.params["server.1.lr"] == "1.0"
    steps = client.get_metric_history(run_id, "test_accuracy")
    assert [(m.step, m.value) for m in steps] == [(r["round"], pytest.approx(r["test_accuracy"])) for r in history]
    assert {a.path for a in client.list_artifacts(run_id, "plots")} >= {"plots/accuracy.png", "plots/loss.png"}


def test_missing_tracker_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(UserError) as err:
        load_config(None, ["tracking=[mlflow]"])
    assert str(err.value) == ("config error: tracking: mlflow is not installed; install the extra: "
                              "pip install 'fedhive[tracking]'")
    with pytest.raises(UserError, match="tracking.0: Input should be 'tensorboard' or 'mlflow'"):
        load_config(None, ["tracking=[wandb]"])
