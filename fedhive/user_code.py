"""Objects from a user's own code, named `package.module:NAME` in a config field."""

from __future__ import annotations

import importlib
import re

from fedhive.errors import UserError

SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def import_object(spec: str, field: str, expected: type | None = None, allow: bool | None = None) -> object:
    """The object `spec` (`module.path:NAME`) names; a UserError naming `field` when it
    cannot be imported, is missing, or is not an `expected` instance. `allow` is the
    code-loading policy's answer (None: allowed)."""
    if allow is False:
        raise UserError(f"{field}: loading user code ({spec}) is not allowed")
    if not SPEC.fullmatch(spec):
        raise UserError(f"{field}: expected module.path:NAME, got {spec!r}")
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"{field}: cannot import {module_name} ({e})") from None
    if not hasattr(module, name):
        raise UserError(f"{field}: module {module_name} has no {name}")
    obj = getattr(module, name)
    if expected is not None and not isinstance(obj, expected):
        raise UserError(f"{field}: {spec} is a {type(obj).__name__}, not a {expected.__name__}")
    return obj
