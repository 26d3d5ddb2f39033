"""fedhive: a fast, reproducible federated-learning simulator for PyTorch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fedhive.errors import FedhiveWarning, RunError, RunStopped, UserError

__version__ = "0.2.0"

# Names load on first use, so `import fedhive` stays fast: the CLI's help and config
# errors need no torch, and `fedhive run`'s plot helper (reports.plot_process) no pydantic.
_LAZY = {
    "Config": "fedhive.config",
    "load_config": "fedhive.config",
    "LrSchedule": "fedhive.config.lr_schedule",
    "build_schedule": "fedhive.config.lr_schedule",
    "Experiment": "fedhive.experiment",
    "chain": "fedhive.server.chain",
    "Transform": "fedhive.server.chain",
    "RoundContext": "fedhive.server.chain",
    "sum_updates": "fedhive.server.aggregate",
    "mean": "fedhive.server.aggregate",
    "weighted_mean": "fedhive.server.aggregate",
    "adam": "fedhive.server.optim",
    "sgd": "fedhive.server.optim",
    "gradient_update": "fedhive.client.update",
    "local_sgd_update": "fedhive.client.update",
    "ClientResult": "fedhive.client.update",
    "Batches": "fedhive.data.batches",
    "FunctionalModel": "fedhive.models.functional",
    "build_model": "fedhive.models.registry",
    "plot_run": "fedhive.reports.plots",
    "read_metrics": "fedhive.run_folder.recorder",
    "ReducedUpdates": "fedhive.server.chain",
    "SequentialEngine": "fedhive.engines.sequential",
    "VectorizedEngine": "fedhive.engines.vectorized",
    "DistributedEngine": "fedhive.engines.distributed",
    "resume_experiment": "fedhive.run_folder.resume",
    "momentum": "fedhive.server.optim",
    "yogi": "fedhive.server.optim",
    "adagrad": "fedhive.server.optim",
    "median": "fedhive.server.robust",
    "trimmed_mean": "fedhive.server.robust",
    "krum": "fedhive.server.robust",
    "bulyan": "fedhive.server.robust",
    "multi_krum": "fedhive.server.robust",
    "norm_bound": "fedhive.server.robust",
    "local_trainer": "fedhive.client.update",
    "local_update": "fedhive.client.update",
    "Algorithm": "fedhive.algorithms.base",
    "Hyperparameters": "fedhive.algorithms.base",
    "Setup": "fedhive.algorithms.base",
    "FederatedAlgorithm": "fedhive.algorithms.base",
    "build_algorithm": "fedhive.algorithms.build",
    "find_algorithm": "fedhive.algorithms.registry",
    "attacked_update": "fedhive.client.attacks",
    "compare": "fedhive.reports.compare",
    "run_sweep": "fedhive.sweep.runner",
    "summarize": "fedhive.reports.summarize",
    "write_report": "fedhive.reports.html",
    "run_reproduction": "fedhive.reproduce.run",
    "FederatedDataset": "fedhive.data.federated",
    "from_arrays": "fedhive.data.arrays",
    "from_csv": "fedhive.data.user",
    "from_torch": "fedhive.data.user",
    "build_dataset": "fedhive.data.build",
    "clip_per_client": "fedhive.privacy.gaussian",
    "fixed_denominator_sum": "fedhive.privacy.gaussian",
    "gaussian_noise": "fedhive.privacy.gaussian",
    "adaptive_clip_sum": "fedhive.privacy.adaptive",
    "local_dp": "fedhive.privacy.local",
    "epsilon": "fedhive.privacy.accounting",
    "calibrate_noise": "fedhive.privacy.accounting",
    "secagg_numerics": "fedhive.privacy.secagg",
    "secure_sum": "fedhive.privacy.secagg_protocol",
    "build_codec": "fedhive.compression",
    "compress": "fedhive.compression",
    "AsyncRunner": "fedhive.asynchronous",
    "Devices": "fedhive.system",
    "SyncSystem": "fedhive.system",
}

if TYPE_CHECKING:
    from fedhive.algorithms.base import Algorithm, FederatedAlgorithm, Hyperparameters, Setup
    from fedhive.algorithms.build import build_algorithm
    from fedhive.algorithms.registry import find_algorithm
    from fedhive.asynchronous import AsyncRunner
    from fedhive.client.attacks import attacked_update
    from fedhive.client.update import ClientResult, gradient_update, local_sgd_update, local_trainer, local_update
    from fedhive.compression import build_codec, compress
    from fedhive.config import Config, load_config
    from fedhive.config.lr_schedule import LrSchedule, build_schedule
    from fedhive.data.arrays import from_arrays
    from fedhive.data.batches import Batches
    from fedhive.data.build import build_dataset
    from fedhive.data.federated import FederatedDataset
    from fedhive.data.user import from_csv, from_torch
    from fedhive.engines.distributed import DistributedEngine
    from fedhive.engines.sequential import SequentialEngine
    from fedhive.engines.vectorized import VectorizedEngine
    from fedhive.experiment import Experiment
    from fedhive.models.functional import FunctionalModel
    from fedhive.models.registry import build_model
    from fedhive.privacy.accounting import calibrate_noise, epsilon
    from fedhive.privacy.adaptive import adaptive_clip_sum
    from fedhive.privacy.gaussian import clip_per_client, fixed_denominator_sum, gaussian_noise
    from fedhive.privacy.local import local_dp
    from fedhive.privacy.secagg import secagg_numerics
    from fedhive.privacy.secagg_protocol import secure_sum
    from fedhive.reports.compare import compare
    from fedhive.reports.html import write_report
    from fedhive.reports.plots import plot_run
    from fedhive.reports.summarize import summarize
    from fedhive.reproduce.run import run_reproduction
    from fedhive.run_folder.recorder import read_metrics
    from fedhive.run_folder.resume import resume_experiment
    from fedhive.server.aggregate import mean, sum_updates, weighted_mean
    from fedhive.server.chain import ReducedUpdates, RoundContext, Transform, chain
    from fedhive.server.optim import adagrad, adam, momentum, sgd, yogi
    from fedhive.server.robust import bulyan, krum, median, multi_krum, norm_bound, trimmed_mean
    from fedhive.sweep.runner import run_sweep
    from fedhive.system import Devices, SyncSystem


def run(config: Config | str | None = None, overrides: list[str] | None = None, quiet: bool = True,
        save: bool = True) -> list[dict[str, Any]]:
    """Run an experiment from a Config, a YAML path or the reference defaults, with dotted
    `overrides` (e.g. `["rounds=20"]`) applied to it; returns its history."""
    from fedhive.config import Config, load_config
    from fedhive.experiment import Experiment

    if not isinstance(config, Config):
        config = load_config(config, overrides)
    elif overrides:
        from fedhive.config import build_config

        config = build_config(config.model_dump(mode="json"), overrides)
    return Experiment(config).run(quiet=quiet, save=save)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fedhive' has no attribute {name!r}")


__all__ = ["UserError", "RunError", "RunStopped", "FedhiveWarning", "run", "__version__", *_LAZY]
