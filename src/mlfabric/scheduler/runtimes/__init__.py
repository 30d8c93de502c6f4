"""Runtimes by name, in the shared registry shape: ``local`` (real processes on this
machine), ``sim`` (none, for replaying scenarios) and ``ray`` (a Ray cluster runs what
the scheduler decides); see ``base.Runtime``."""

from __future__ import annotations

import os

from mlfabric.registry import Registry
from mlfabric.scheduler.runtimes.base import Cluster, Outcome, Process, Run, Runtime

RUNTIMES: Registry[Runtime] = Registry("runtime", {
    "local": "mlfabric.scheduler.runtimes.local:LocalRuntime",
    "sim": "mlfabric.scheduler.runtimes.sim:SimRuntime",
    "ray": "mlfabric.scheduler.runtimes.ray:RayRuntime",
})
DEFAULT_RUNTIME = "local"

__all__ = ["RUNTIMES", "Cluster", "Outcome", "Process", "Run", "Runtime", "check_runtime",
           "default_runtime", "get_runtime"]


def check_runtime(name: str) -> str:
    """Return ``name`` if it names a runtime, else raise ``InvalidInput``."""
    return RUNTIMES.check(name)


def default_runtime() -> str:
    """``$MLFABRIC_RUNTIME``, or ``local``."""
    return check_runtime(os.environ.get("MLFABRIC_RUNTIME", "").strip().lower()
                         or DEFAULT_RUNTIME)


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``."""
    return RUNTIMES.get(name)
