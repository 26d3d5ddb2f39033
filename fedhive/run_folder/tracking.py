"""Experiment trackers (`tracking: [tensorboard, mlflow]`): recorder hooks that mirror each
metrics row, the resolved config and the plots into TensorBoard or a local MLflow store."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from fedhive.run_folder.files import atomic_write

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def _installed(names: list[str]) -> list[str]:
    for name in names:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise ValueError(f"{name} is not installed; install the extra: pip install 'fedhive[tracking]'")
    if len(set(names)) != len(names):
        raise ValueError("a tracker is listed twice")
    return names


Tracking = Annotated[list[Literal["tensorboard", "mlflow"]], AfterValidator(_installed)]


def numeric_columns(row: dict[str, Any]) -> dict[str, float]:
    """The row's numbers (booleans as 0/1), without `round` (the step) and missing values."""
    return {k: float(v) for k, v in row.items()
            if k != "round" and isinstance(v, (int, float))}


class TensorBoardTracker:
    """Scalars under their column names in `<run>/tb/`, and the resolved config as text."""

    def __init__(self, run_dir: Path, config_text: str, start_round: int):
        from torch.utils.tensorboard import SummaryWriter

        # A resumed run rewrites the rounds after its checkpoint: drop what the killed run logged.
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start_round + 1 if start_round else None)
        if not start_round:
            self.writer.add_text("config", "```\n" + config_text + "```", 0)

    def log(self, row: dict[str, Any]) -> None:
        for key, value in numeric_columns(row).items():
            self.writer.add_scalar(key, value, row["round"])
        self.writer.flush()

    def close(self, summary: dict[str, Any], run_dir: Path) -> None:
        self.writer.close()


class MLflowTracker:
    """Params (the flattened config), metrics by round and the plots, in a local file store:
    `$MLFLOW_TRACKING_URI`, else `./mlruns`. A resumed run continues its MLflow run."""

    def __init__(self, run_dir: Path, config: dict[str, Any], start_round: int):
        import mlflow

        self.mlflow = mlflow
        # MLflow 3 keeps the plain-folder store behind this switch; it needs no database or server.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or (Path.cwd() / "mlruns").as_uri())
        mlflow.set_experiment("fedhive")
        id_file = run_dir / "mlflow_run_id"
        run_id = id_file.read_text().strip() if start_round and id_file.is_file() else None
        self.run = mlflow.start_run(run_id=run_id, run_name=run_dir.name)
        atomic_write(id_file, self.run.info.run_id.encode())
        if run_id is None:
            mlflow.log_params(flatten(config))

    def log(self, row: dict[str, Any]) -> None:
        self.mlflow.log_metrics(numeric_columns(row), step=row["round"])

    def close(self, summary: dict[str, Any], run_dir: Path) -> None:
        if (run_dir / "plots").is_dir():
            self.mlflow.log_artifacts(str(run_dir / "plots"), "plots")
        self.mlflow.log_artifact(str(run_dir / "config.yaml"))
        self.mlflow.end_run()


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "s": [{"c": 2}]}` -> `{"a.b": 1, "s.0.c": 2}`: the keys overrides use."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list) and v and all(isinstance(item, dict) for item in v):
            out.update(flatten({str(i): item for i, item in enumerate(v)}, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def build_trackers(names: Sequence[str], run_dir: Path, config: dict[str, Any], config_text: str,
                   start_round: int) -> list[Any]:
    """One hook per configured tracker; each has `log(row)` and `close(summary, run_dir)`."""
    make = {"tensorboard": lambda: TensorBoardTracker(run_dir, config_text, start_round),
            "mlflow": lambda: MLflowTracker(run_dir, config, start_round)}
    return [make[name]() for name in names]
