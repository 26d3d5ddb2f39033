"""Named algorithms as config recipes: each fills the `client` and `server` sections.

`algorithm: fedavg` in a config (or `algorithm=fedavg` on the command line) merges the
recipe under the user's own settings, so `algorithm=fedprox client.mu=0.1` is FedProx
with mu = 0.1. The server halves use the mapping form of `server` (see config.py).
"""

from __future__ import annotations

from typing import Any

_LOCAL = {"name": "local_sgd", "lr": 0.1}
_AVG = {"aggregate": "weighted_mean", "optimizer": "sgd", "lr": 1.0}
# FedOpt (Reddi et al. 2021): FedAvg clients, an adaptive server optimizer, tau = 1e-3.
_FEDOPT = {"aggregate": "weighted_mean", "lr": 0.03, "b1": 0.9, "b2": 0.99, "eps": 1e-3, "bias_correction": False}

PRESETS: dict[str, dict[str, Any]] = {
    # the reference experiment: summed gradients, one Adam(lr=1) step
    "fedsgd": {"client": {"name": "gradient"}, "server": {"aggregate": "sum", "optimizer": "adam", "lr": 1.0}},
    "fedavg": {"client": _LOCAL, "server": _AVG},
    "fedavgm": {"client": _LOCAL, "server": {**_AVG, "optimizer": "momentum", "momentum": 0.9}},
    "fedprox": {"client": {**_LOCAL, "name": "proximal", "mu": 0.01}, "server": _AVG},
    "scaffold": {"client": {**_LOCAL, "name": "scaffold"}, "server": {**_AVG, "aggregate": "mean"}},
    "fednova": {"client": {**_LOCAL, "name": "fednova"}, "server": _AVG},
    "fedadam": {"client": _LOCAL, "server": {**_FEDOPT, "optimizer": "adam"}},
    "fedyogi": {"client": _LOCAL, "server": {**_FEDOPT, "optimizer": "yogi"}},
    "fedadagrad": {"client": _LOCAL, "server": {**_FEDOPT, "optimizer": "adagrad", "b1": 0.0}},
}


def apply_preset(raw: dict[str, Any], merge) -> dict[str, Any]:
    """`raw` with its `algorithm` recipe merged underneath (unknown names are left for
    validation to report). A `server` list in `raw` replaces the recipe's mapping."""
    preset = PRESETS.get(raw.get("algorithm")) if isinstance(raw.get("algorithm"), str) else None
    return merge(preset, raw) if preset else raw
