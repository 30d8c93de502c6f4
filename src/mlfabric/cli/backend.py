"""The library the CLI calls: the local modules, or, when ``MLFABRIC_SERVER`` is set,
stand-ins that make the same calls through the server's REST API. Commands import their
module from here and cannot tell the difference: same results, same errors."""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import Any

from mlfabric.config import SERVER_ENV


class _Lazy:
    """Resolves to the local module or its remote stand-in on first use, so a bad
    ``MLFABRIC_SERVER`` setting surfaces as an ``error:`` line, not at import."""

    def __init__(self, module: str) -> None:
        self._name = module
        self._target: ModuleType | Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._target is None:
            self._target = _resolve(self._name)
        return getattr(self._target, attr)


@functools.cache
def _connection() -> Any:
    from mlfabric.api import Connection

    return Connection.from_env()


def _resolve(module: str) -> Any:
    if not os.environ.get(SERVER_ENV):
        return importlib.import_module(f"mlfabric.{module}")
    from mlfabric.api import RemoteModule

    return RemoteModule(module, _connection)


def remote() -> bool:
    """Whether commands go through a server."""
    return bool(os.environ.get(SERVER_ENV))


volumes: Any = _Lazy("volumes")
snapshots: Any = _Lazy("snapshots")
store: Any = _Lazy("store")
remotes: Any = _Lazy("remotes")
datasets: Any = _Lazy("datasets")
caches: Any = _Lazy("caches")
transfer: Any = _Lazy("transfer")
nodes: Any = _Lazy("nodes")
projects: Any = _Lazy("projects")
jobs: Any = _Lazy("jobs")
tokens: Any = _Lazy("tokens")
workspaces: Any = _Lazy("workspaces")
serving: Any = _Lazy("serving")
