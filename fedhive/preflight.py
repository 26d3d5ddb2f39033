"""Checks made before any round runs: the model trains on one real batch, and the dry run
that `fedhive validate` does (build everything `run` builds, train nothing, write nothing)."""

from __future__ import annotations

from typing import Any

import torch

from fedhive.config import Config
from fedhive.errors import UserError

PROBE_ROWS = 8  # rows of the test set the model check runs on: enough for any batch-dependent op


def check_model(model: Any, params: torch.Tensor, dataset: Any, name: str) -> None:
    """One forward and one backward pass (`torch.func.grad`, as the client updates take
    it) on a few real test rows; any failure is a UserError naming the model."""
    from fedhive.models.autodiff import grad

    x, y = dataset.test_set(0)
    x, y = x[:PROBE_ROWS].to(params.device), y[:PROBE_ROWS].to(params.device)
    shape = tuple(x.shape[1:])
    try:
        out = model.apply(params, x)
        _check_output(out, y, dataset.num_classes)
        grad(lambda p: model.train_losses(p, x[None], y[None], None)[0].sum())(params)
    except UserError:
        raise
    except Exception as e:  # a user's model can raise anything: report it as one line
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise UserError(f"model.name: {name} cannot train on inputs of shape {shape} "
                        f"({dataset.num_classes} classes): {type(e).__name__}: {first}") from None


def _check_output(out: Any, y: torch.Tensor, num_classes: int) -> None:
    """Logits per label for cross-entropy (`[N, classes]`, or `[N, T, classes]` for
    sequence labels `[N, T]`), or one probability per row for bce."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
    n, expected = len(y), (*y.shape, num_classes)
    if out.shape == expected:
        return
    if out.shape in ((n,), (n, 1)) and num_classes == 2:
        return
    raise ValueError(f"output shape {tuple(out.shape)}, expected {expected}")


def dry_run(config: Config) -> Any:
    """Build the experiment `run` would build (data, model + one training pass, algorithm,
    privacy, system, device) without training or writing a run folder; returns it. A
    distributed engine is checked as its local engine in this one process."""
    from fedhive.experiment import Experiment

    if config.engine.name == "distributed":
        engine = config.engine.model_copy(update={"name": config.engine.local, "workers": 1})
        config = config.model_copy(update={"engine": engine})
    return Experiment(config)


# Sections whose content is used only when a switch in them (or elsewhere) is on.
_IN_USE = {
    "attack": lambda c: c.attack is not None,
    "privacy": lambda c: c.privacy.mechanism != "none" or c.privacy.secagg.enabled,
    "compression": lambda c: c.compression.name != "none",
    "system": lambda c: c.system is not None,
    "round": lambda c: c.mode == "sync" and c.system is not None,
    "asynchronous": lambda c: c.mode == "async",
    "client": lambda c: _trains_locally(c),
    "stop": lambda c: c.stop.target_accuracy is not None or c.stop.patience is not None,
    "tracking": lambda c: bool(c.tracking),
}


def _trains_locally(config: Config) -> bool:
    """Whether the algorithm reads `client.*` (the shared local trainer's settings)."""
    from fedhive.algorithms.registry import find_algorithm

    return find_algorithm(config.algorithm.name).local_training


# Fields read only by some choices: (section, field) -> whether this config reads it.
_FIELD_IN_USE = {
    ("data", "partition"): lambda c: c.data.name not in ("reference", "synthetic"),
    ("data", "synthetic"): lambda c: c.data.name == "synthetic",
    ("data", "batches"): lambda c: c.data.name == "reference",
    ("data", "test_size"): lambda c: c.data.name == "reference",
    ("data", "label_column"): lambda c: c.data.name == "file",
    ("data", "vocab_size"): lambda c: c.data.name in ("sent140", "stackoverflow"),
    ("model", "hidden"): lambda c: c.model.name == "mlp",
    ("model", "channels"): lambda c: c.model.name in ("cnn", "resnet", "resnet_gn"),
    ("model", "dense"): lambda c: c.model.name in ("cnn", "word_lstm"),
    ("model", "norm"): lambda c: c.model.name == "cnn",
    ("model", "embedding"): lambda c: c.model.name in ("char_lstm", "word_lstm", "bag_of_words"),
    ("model", "lstm"): lambda c: c.model.name in ("char_lstm", "word_lstm"),
    ("model", "kwargs"): lambda c: ":" in c.model.name,
    **{("engine", f): (lambda c: c.engine.name == "distributed") for f in ("workers", "local", "backend", "timeout_s")},
}


def sections_in_use(config: Config) -> dict[str, Any]:
    """The resolved config as a mapping, without the sections and fields this run does not
    read and without unset (null) fields."""
    out = {}
    for key, value in config.model_dump(mode="json").items():
        if value is None or (key in _IN_USE and not _IN_USE[key](config)):
            continue
        if isinstance(value, dict):
            value = {f: v for f, v in value.items()
                     if v is not None and _FIELD_IN_USE.get((key, f), lambda c: True)(config)}
        out[key] = value
    return out
