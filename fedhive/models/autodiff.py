"""`torch.func.grad` without importing torch's compiler (torch._dynamo) on a run that never compiles.

In torch 2.13 every `torch.func.grad` call enters `torch._dynamo.compiled_autograd._disable()`,
and the attribute lookup `torch._dynamo` imports the whole compiler stack: seconds of every
run's start, for a context that only switches compiled autograd off — which nothing can have
switched on before torch._dynamo is imported. So until something imports torch._dynamo,
`torch._dynamo` is a stand-in whose `compiled_autograd._disable` is that no-op; any other
attribute imports the real module and reads it there. Importing torch._dynamo (torch.compile
does) binds the real module in the stand-in's place, and from then on torch's own context runs.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Any, Callable

import torch
import torch.func

_DYNAMO = "torch._dynamo"


class _CompiledAutogradOff(types.SimpleNamespace):
    """`torch._dynamo.compiled_autograd` before torch._dynamo is imported: compiled autograd is off."""

    @staticmethod
    def _disable() -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


class _DynamoStandIn(types.ModuleType):
    """`torch._dynamo` until it is imported; reading anything but `compiled_autograd` imports it."""

    def __getattr__(self, name: str) -> Any:
        if name == "compiled_autograd" and _DYNAMO not in sys.modules:
            return _CompiledAutogradOff()
        return getattr(importlib.import_module(_DYNAMO), name)


def _install_stand_in() -> None:
    if _DYNAMO not in sys.modules and not isinstance(torch.__dict__.get("_dynamo"), _DynamoStandIn):
        torch._dynamo = _DynamoStandIn(_DYNAMO)


def grad(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """`torch.func.grad(fn, **kwargs)`, taken without importing torch._dynamo."""
    _install_stand_in()
    return torch.func.grad(fn, **kwargs)
