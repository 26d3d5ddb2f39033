"""Algorithms found by name: every module of this package that declares `ALGORITHM` (or
a family's `ALGORITHMS`), or a user's own named `module.path:NAME`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import cast

from fedhive.algorithms.base import Algorithm
from fedhive.config.user_code import import_object
from fedhive.errors import UserError


@cache
def registered() -> dict[str, Algorithm]:
    """Every algorithm the package's modules declare, by name."""
    import fedhive.algorithms as package

    found: dict[str, Algorithm] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        one = getattr(module, "ALGORITHM", None)
        for algorithm in getattr(module, "ALGORITHMS", ()) + ((one,) if one is not None else ()):
            if algorithm.name in found:
                raise RuntimeError(f"two algorithms are named {algorithm.name!r}")
            found[algorithm.name] = algorithm
    return dict(sorted(found.items()))


def find_algorithm(name: str) -> Algorithm:
    """The algorithm `algorithm.name` names; a UserError naming the field otherwise."""
    if ":" in name:
        return cast(Algorithm, import_object(name, "algorithm.name", expected=Algorithm))
    algorithms = registered()
    if name not in algorithms:
        raise UserError(f"algorithm.name: unknown algorithm {name!r}; use one of {', '.join(algorithms)} "
                        "or module.path:NAME")
    return algorithms[name]


def users_of(field: str) -> list[str]:
    """Names of the registered algorithms whose hyperparameters include `field`."""
    return [n for n, a in registered().items() if field in a.hyperparameters.model_fields]
