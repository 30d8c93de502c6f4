"""Runtimes by name: ``local`` (real processes) and ``sim`` (none); see ``base.Runtime``."""

from __future__ import annotations

import os

from mlfabric.errors import InvalidInput
from mlfabric.scheduler.runtimes.base import Outcome, Process, Run, Runtime

RUNTIMES = ("local", "sim")
DEFAULT_RUNTIME = "local"

__all__ = ["RUNTIMES", "Outcome", "Process", "Run", "Runtime", "default_runtime",
           "get_runtime"]


def check_runtime(name: str) -> str:
    """Return ``name`` if it names a runtime, else raise ``InvalidInput``."""
    if name not in RUNTIMES:
        raise InvalidInput(f"unknown runtime '{name}': expected one of {', '.join(RUNTIMES)}",
                           field="runtime", value=name)
    return name


def default_runtime() -> str:
    """``$MLFABRIC_RUNTIME``, or ``local``."""
    return check_runtime(os.environ.get("MLFABRIC_RUNTIME", "").strip().lower()
                         or DEFAULT_RUNTIME)


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``."""
    check_runtime(name)
    if name == "sim":
        from mlfabric.scheduler.runtimes.sim import SimRuntime

        return SimRuntime()
    from mlfabric.scheduler.runtimes.local import LocalRuntime

    return LocalRuntime()
