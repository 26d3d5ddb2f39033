"""One module per federated algorithm, found by name (see base.py for what a module declares).

Imports stay lazy: the config reads `server_specs` without loading torch.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Algorithm": "fedhive.algorithms.base",
    "FederatedAlgorithm": "fedhive.algorithms.base",
    "Hyperparameters": "fedhive.algorithms.base",
    "Setup": "fedhive.algorithms.base",
    "build_algorithm": "fedhive.algorithms.build",
    "server_chain": "fedhive.algorithms.build",
    "find_algorithm": "fedhive.algorithms.registry",
    "registered": "fedhive.algorithms.registry",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fedhive.algorithms' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
