"""Public API for inference serving; mirrors ``mlfabric inference ...`` and
``mlfabric model-repo check`` one to one.

A server is real Triton (``tritonserver`` from the ``nvidia-pytriton`` wheel) on a staging
copy of a volume in Triton's model-repository layout, run as a non-preemptible
scheduled job; any KServe v2 / ``tritonclient`` client talks to it unchanged.

The names are imported on first use: Triton's backend stubs import
``mlfabric.serving.runner`` for every model instance and need none of the catalog code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlfabric.serving.check import check_repo
    from mlfabric.serving.client import client
    from mlfabric.serving.create import create
    from mlfabric.serving.delete import delete
    from mlfabric.serving.listing import list_servers as list
    from mlfabric.serving.listing import show
    from mlfabric.serving.records import InferenceServer, RepoReport

_EXPORTS = {
    "InferenceServer": ("records", "InferenceServer"), "RepoReport": ("records", "RepoReport"),
    "check_repo": ("check", "check_repo"), "client": ("client", "client"),
    "create": ("create", "create"), "delete": ("delete", "delete"),
    "list": ("listing", "list_servers"), "show": ("listing", "show"),
}

__all__ = ["InferenceServer", "RepoReport", "check_repo", "client", "create", "delete",
           "list", "show"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'mlfabric.serving' has no attribute '{name}'") from None
    value = getattr(importlib.import_module(f"mlfabric.serving.{module}"), attr)
    globals()[name] = value
    return value
