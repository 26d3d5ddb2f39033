"""The one place a `module:attr` named in a config is imported, and the opt-in it needs.

A config read from a file or the command line (a run folder's config.yaml included) may
come from someone else, so naming code in it is honoured only with an explicit opt-in:
`--allow-code` on `fedhive run/resume/validate`, or `FEDHIVE_ALLOW_CODE=1`. A config built
in the user's own Python (Experiment, fedhive.run) counts as opted in."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from fedhive.errors import UserError

ENV = "FEDHIVE_ALLOW_CODE"
_needs_opt_in = False  # True while the `fedhive` command runs without --allow-code


@contextmanager
def command_line_policy(allow_code: bool) -> Iterator[None]:
    """While the `fedhive` command runs: code named in a config needs `allow_code` or the env."""
    global _needs_opt_in
    before, _needs_opt_in = _needs_opt_in, not allow_code
    try:
        yield
    finally:
        _needs_opt_in = before


def code_allowed() -> bool:
    """Whether a config may name code to import here (the Python API, or an opt-in)."""
    return not _needs_opt_in or os.environ.get(ENV, "") == "1"


def import_object(spec: str, field: str, expected: type | None = None, allow: bool | None = None) -> object:
    """The object `module.path:attr` names (`attr` may be dotted), for config field `field`.

    Refused (UserError) without the opt-in (`allow`, default `code_allowed()`), if it does
    not import, or if it is not `expected`: a subclass of it when it is a class, else an
    instance. Nothing imported is called here, so a wrong object never runs."""
    if not (code_allowed() if allow is None else allow):
        raise UserError(f"{field}: {spec} names code to import; a config may run code only with "
                        f"--allow-code (or {ENV}=1)")
    module_name, sep, attr = spec.partition(":")
    if not (sep and module_name and attr):
        raise UserError(f"{field}: {spec!r} is not of the form module.path:Name")
    # Like `python -m`: a module in the folder fedhive runs from is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: object = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise UserError(f"{field}: cannot import {spec} ({e})") from None
    if expected is not None:
        fits = issubclass(obj, expected) if isinstance(obj, type) else isinstance(obj, expected)
        if not fits:
            kind = "a subclass of" if isinstance(obj, type) else "an instance of"
            raise UserError(f"{field}: {spec} is not {kind} {expected.__qualname__} ({expected.__module__}); "
                            "refusing to use it")
    return obj
