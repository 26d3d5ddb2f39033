"""`fedhive resume`: continue a run folder from its newest good checkpoint, bit-exactly."""

from __future__ import annotations

import warnings
from pathlib import Path

from pydantic import ValidationError

from fedhive.config import Config, build_config, read_yaml
from fedhive.engines.build import is_leader
from fedhive.errors import FedhiveWarning, UserError
from fedhive.experiment import Experiment
from fedhive.run_folder.checkpoint import changed_fields, config_hash, load_latest
from fedhive.run_folder.recorder import truncate_metrics


def resume_experiment(run_dir: str | Path, overrides: list[str] | None = None, force: bool = False) -> Experiment:
    """An Experiment restored from `run_dir`'s newest readable checkpoint, ready to `run()`.

    The config is the folder's `config.yaml` plus `overrides` (e.g. `rounds=200` to extend
    a finished run). A change that would alter the results is refused, naming the fields,
    unless `force`. metrics.jsonl is cut back to the checkpoint's rows."""
    run_dir = Path(run_dir)
    config, found = checked_config(run_dir, overrides, force)
    experiment = Experiment(config)
    if found is None:
        warnings.warn(f"{run_dir}: no checkpoint yet; starting again from round 0", FedhiveWarning)
    else:
        experiment.load_state_dict(found[0], strict=not force)
    if is_leader(experiment.engine):  # the other ranks of a distributed run leave the folder alone
        truncate_metrics(run_dir, experiment.history)
        experiment.run_dir = run_dir
    return experiment


def checked_config(run_dir: Path, overrides: list[str] | None = None,
                   force: bool = False) -> tuple[Config, tuple[dict, Path] | None]:
    """The folder's config with `overrides`, and its newest checkpoint (None if none yet),
    checked against each other before anything the config names is imported or built."""
    config = folder_config(run_dir, overrides)
    found = load_latest(run_dir / "checkpoints", map_location=config.device)
    if found is not None:
        _check_config(found[0], config, force)
        if config.rounds < found[0]["round"]:
            raise UserError(f"rounds: {config.rounds} is less than the {found[0]['round']} rounds already run")
    return config, found


def folder_config(run_dir: Path, overrides: list[str] | None = None) -> Config:
    """The run folder's config.yaml with `overrides` (not yet checked against a checkpoint)."""
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir}: not a run folder (no config.yaml)")
    return build_config(read_yaml(run_dir / "config.yaml"), overrides)


def _check_config(state: dict, config: Config, force: bool) -> None:
    if state["config_hash"] == config_hash(config):
        return
    old = _with_defaults(state["config"])
    if config_hash(old) == config_hash(config):
        return
    changes = ", ".join(changed_fields(old, config)) or "unknown fields"
    if not force:
        raise UserError(f"resume would change the results: {changes}; pass --force to resume anyway")
    warnings.warn(f"resuming with changed fields (--force): {changes}", FedhiveWarning)


def _with_defaults(saved: dict) -> Config | dict:
    """A checkpoint's config read by this version: fields added since it was written take
    their defaults (so a newer fedhive resumes an older run); as saved if it no longer fits."""
    try:
        return Config.model_validate(saved)
    except ValidationError:
        return saved
