"""mlfabric: an AI data and workload platform.

Public modules mirror the CLI nouns and are imported on first use, so
``import mlfabric; mlfabric.snapshots.create("data")`` works and costs nothing until
then: ``volumes``, ``snapshots``, ``store`` (gc, verify), ``transfer``, ``remotes``,
``datasets``, ``caches``, ``nodes``, ``projects``, ``jobs``, ``tokens``, ``workspaces``,
``serving``, ``privacy``; reference pipelines live in ``mlfabric.apps``.
"""

from mlfabric.errors import (
    AccessDenied,
    AlreadyExists,
    Busy,
    CorruptData,
    InvalidInput,
    MlfabricError,
    NotFound,
)
from mlfabric.exports import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {}, modules=(
    "apps", "caches", "datasets", "jobs", "nodes", "privacy", "projects", "remotes",
    "scheduler", "serving", "snapshots", "storage", "store", "tokens", "transfer",
    "volumes", "workspaces"))
__all__ += ["AccessDenied", "AlreadyExists", "Busy", "CorruptData", "InvalidInput",
            "MlfabricError", "NotFound", "__version__"]
