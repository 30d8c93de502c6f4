"""Every library operation the REST API serves, in one table.

The server builds its routes from this table and the CLI's client mode builds its
requests from it, so the two cannot drift apart: an operation is the public library
function (``mlfabric.<module>.<function>``), an HTTP method and a path whose ``{names}``
are parameters of the function. ``GET`` and ``DELETE`` take the other parameters in the
query string, the rest in a JSON body. Parameters the server owns (``home``, progress,
clocks) never cross the wire.

No web framework is imported here: the client runs with the base install.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlfabric.api import access as A

# Parameters the server sets (or a service does), never a request: a member cannot give a
# job host folders to write (``state_dirs``) or pick its own clock.
SERVER_OWNED = frozenset({"home", "progress", "clock", "poll_s", "cycle_every_s", "history",
                          "state_dirs"})
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    module: str  # public module under ``mlfabric`` (an app's: its name)
    function: str
    method: str
    path: str  # under /api/v1
    access: A.Access
    stream: bool = False  # the function yields text chunks
    import_path: str | None = None  # where ``module`` lives when not ``mlfabric.<module>``

    @property
    def key(self) -> str:
        return f"{self.module}.{self.function}"

    @property
    def func(self) -> Callable[..., Any]:
        path = self.import_path or f"mlfabric.{self.module}"
        return getattr(importlib.import_module(path), self.function)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def in_query(self) -> bool:
        return self.method in ("GET", "DELETE")

    def parameters(self) -> list[inspect.Parameter]:
        """The function's parameters that travel over HTTP."""
        return [p for p in inspect.signature(self.func).parameters.values()
                if p.name not in SERVER_OWNED]


def _ops() -> list[Operation]:
    op = Operation  # a table reads better with a short constructor
    vol, job = A.volume_arg, A.job_arg
    return [
        # volumes and snapshots: members act on volumes labelled project=<theirs>
        op("volumes", "list", "GET", "/volumes", A.filtered(A.volume_project)),
        op("volumes", "create", "POST", "/volumes", A.labelled_create("labels")),
        op("volumes", "show", "GET", "/volumes/{name}", vol("name")),
        op("volumes", "delete", "DELETE", "/volumes/{name}", vol("name")),
        op("volumes", "path", "GET", "/volumes/{name}/path", vol("name")),
        op("volumes", "usage", "GET", "/volumes/{name}/usage", vol("name")),
        op("volumes", "clone", "POST", "/volumes/{name}/clone",
          A.all_of(vol("source"), A.labelled_create("labels"))),
        op("snapshots", "list", "GET", "/volumes/{volume}/snapshots", vol("volume")),
        op("snapshots", "create", "POST", "/volumes/{volume}/snapshots", vol("volume")),
        op("snapshots", "show", "GET", "/snapshots/{ref}", vol("ref")),
        op("snapshots", "delete", "DELETE", "/snapshots/{ref}", vol("ref")),
        op("snapshots", "restore", "POST", "/snapshots/{ref}/restore", vol("ref")),
        op("snapshots", "diff", "GET", "/diff", A.all_of(vol("old"), vol("new"))),
        op("store", "gc", "POST", "/store/gc", A.ADMIN),
        op("store", "verify", "POST", "/store/verify", vol("volume", none_needs_admin=True)),
        # the data lake and caches: everyone reads, admins change
        op("remotes", "list", "GET", "/remotes", A.ANY),
        op("remotes", "add", "POST", "/remotes", A.ADMIN),
        op("remotes", "remove", "DELETE", "/remotes/{name}", A.ADMIN),
        op("datasets", "list", "GET", "/datasets", A.ANY),
        op("datasets", "push", "POST", "/datasets", A.ADMIN),
        op("datasets", "versions", "GET", "/datasets/{dataset}/versions", A.ANY),
        op("datasets", "show", "GET", "/dataset-versions/{ref}", A.ANY),
        op("datasets", "delete", "DELETE", "/dataset-versions/{ref}", A.ADMIN),
        op("datasets", "pull", "POST", "/dataset-versions/{ref}/pull", A.ADMIN),
        op("datasets", "gc", "POST", "/remotes/{remote}/gc", A.ADMIN),
        op("caches", "list", "GET", "/caches", A.ANY),
        op("caches", "add", "POST", "/caches", A.ADMIN),
        op("caches", "prepopulate", "POST", "/caches/prepopulate", A.ADMIN),
        op("caches", "remove", "DELETE", "/caches/{ref}", A.ADMIN),
        op("caches", "evict", "POST", "/caches/evict", A.ADMIN),
        op("caches", "stats", "GET", "/caches/stats", A.ANY),
        op("caches", "pools", "GET", "/cache-pools", A.ANY),
        op("caches", "config", "PUT", "/cache-pools/{pool}", A.ADMIN),
        op("transfer", "scan", "POST", "/transfers/scan", A.ADMIN),
        op("transfer", "copy", "POST", "/transfers/copy", A.ADMIN),
        op("transfer", "sync", "POST", "/transfers/sync", A.ADMIN),
        op("transfer", "verify", "POST", "/transfers/verify", A.ADMIN),
        # the scheduler: members act on their projects' jobs
        op("nodes", "list", "GET", "/nodes", A.ANY),
        op("nodes", "add", "POST", "/nodes", A.ADMIN),
        op("nodes", "show", "GET", "/nodes/{name}", A.ANY),
        op("nodes", "remove", "DELETE", "/nodes/{name}", A.ADMIN),
        op("projects", "list", "GET", "/projects", A.ANY),
        op("projects", "create", "POST", "/projects", A.ADMIN),
        op("projects", "show", "GET", "/projects/{name}", A.ANY),
        op("projects", "update", "PATCH", "/projects/{name}", A.ADMIN),
        op("projects", "delete", "DELETE", "/projects/{name}", A.ADMIN),
        op("jobs", "list", "GET", "/jobs", A.all_of(A.project_arg("project", optional=True),
                                                   A.filtered(A.project_field))),
        op("jobs", "submit", "POST", "/jobs", A.project_arg("project")),
        op("jobs", "get", "GET", "/jobs/{name}", job("name")),
        op("jobs", "delete", "DELETE", "/jobs", job("names")),
        op("jobs", "logs", "GET", "/jobs/{name}/logs", job("name")),
        op("jobs", "follow_logs", "GET", "/jobs/{name}/logs/stream", job("name"), stream=True),
        op("jobs", "events", "GET", "/jobs/{name}/events", job("name")),
        op("jobs", "exec_output", "POST", "/jobs/{name}/exec", job("name")),
        op("jobs", "step", "POST", "/scheduler/step", A.ANY),
        # API tokens
        op("tokens", "list", "GET", "/tokens", A.ADMIN),
        op("tokens", "create", "POST", "/tokens", A.ADMIN),
        op("tokens", "revoke", "DELETE", "/tokens/{token_id}", A.ADMIN),
        *_optional_ops(),
        op("jobs", "status", "GET", "/scheduler/status", A.filtered_status),
        # the dashboard's overview: totals for all, rows of one's own projects
        op("web", "overview", "GET", "/overview", A.OVERVIEW),
        *_app_ops(),
    ]


def _optional_ops() -> list[Operation]:
    """Workspaces and inference servers: members act on their projects' ones."""
    op = Operation
    ws, inf = A.owned_arg("workspaces"), A.owned_arg("serving")
    return [
        op("workspaces", "list", "GET", "/workspaces",
          A.all_of(A.project_arg("project", optional=True), A.filtered(A.project_field))),
        op("workspaces", "create", "POST", "/workspaces", A.project_arg("project")),
        op("workspaces", "show", "GET", "/workspaces/{name}", ws("name")),
        op("workspaces", "clone", "POST", "/workspaces/{name}/clone",
          A.all_of(ws("source"), A.project_arg("project", optional=True))),
        op("workspaces", "snapshot", "POST", "/workspaces/{name}/snapshots", ws("name")),
        op("workspaces", "restore", "POST", "/workspace-snapshots/{ref}/restore", ws("ref")),
        op("workspaces", "stop", "POST", "/workspaces/{name}/stop", ws("name")),
        op("workspaces", "start", "POST", "/workspaces/{name}/start", ws("name")),
        op("workspaces", "delete", "DELETE", "/workspaces/{name}", ws("name")),
        op("serving", "list", "GET", "/inference",
          A.all_of(A.project_arg("project", optional=True), A.filtered(A.project_field))),
        op("serving", "create", "POST", "/inference", A.project_arg("project")),
        op("serving", "show", "GET", "/inference/{name}", inf("name")),
        op("serving", "delete", "DELETE", "/inference/{name}", inf("name")),
        op("serving", "check_repo", "GET", "/model-repos/{volume}/check", A.volume_arg("volume")),
    ]


def _app_ops() -> list[Operation]:
    """The routes apps declare (``mlfabric.apps``), under their own names."""
    from mlfabric.apps import discover

    return [Operation(app.name, r.function, r.method, r.path, A.named(r.access), r.stream,
                      import_path=app.module)
            for app in discover().values() for r in app.routes]


def _available(op: Operation) -> bool:
    try:
        return callable(op.func)
    except (ImportError, AttributeError):  # a package not written or not installed yet
        return False


@functools.cache
def operations() -> dict[str, Operation]:
    """The table, without operations whose package is absent."""
    return {op.key: op for op in _ops() if _available(op)}


def find(module: str, function: str) -> Operation | None:
    return operations().get(f"{module}.{function}")
