"""The library the CLI calls: the local modules, or, when ``MLFABRIC_SERVER`` is set,
stand-ins that make the same calls through the server's REST API. Commands import their
module from here and cannot tell the difference: same results, same errors."""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import Any

from mlfabric.config import SERVER_ENV, TOKEN_ENV


class _Lazy:
    """Resolves to the local module or its remote stand-in when used, as the environment
    says at that moment (a bad ``MLFABRIC_SERVER`` setting surfaces as an ``error:``
    line, not at import)."""

    def __init__(self, module: str) -> None:
        self._name = module

    def __getattr__(self, attr: str) -> Any:
        return getattr(_resolve(self._name, os.environ.get(SERVER_ENV),
                                os.environ.get(TOKEN_ENV)), attr)


_connections: dict[tuple[str, str | None], Any] = {}


def _connection(url: str, token: str | None) -> Any:
    """One connection per server and token (the environment is read by ``from_env``)."""
    conn = _connections.get((url, token))
    if conn is None:
        from mlfabric.api import Connection

        conn = _connections[(url, token)] = Connection.from_env()
    return conn


@functools.cache
def _resolve(module: str, url: str | None, token: str | None) -> ModuleType | Any:
    if not url:
        return importlib.import_module(f"mlfabric.{module}")
    from mlfabric.api import RemoteModule

    return RemoteModule(module, lambda: _connection(url, token))


def close() -> None:
    """Close the connections client mode opened (a process that runs many commands)."""
    while _connections:
        _, conn = _connections.popitem()
        conn.http.close()


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
