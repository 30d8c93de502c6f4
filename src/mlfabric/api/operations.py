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
from mlfabric.api import references as R

# Parameters the server sets (or a service does), never a request: a member cannot give a
# job host folders to write (``state_dirs``) or pick its own clock.
SERVER_OWNED = frozenset({"home", "progress", "clock", "poll_s", "cycle_every_s", "history",
                          "state_dirs", "host_shm"})
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
    refs: tuple[R.Ref, ...] = ()  # the arguments that name resources

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


def _op(module: str, function: str, method: str, path: str, access: A.Access = A.ANY, *,
        refs: str = "", admin_args: tuple[str, ...] = (), admin_unless: str | None = None,
        stream: bool = False, import_path: str | None = None) -> Operation:
    """One row: ``access`` decides who may call; ``refs`` declares each argument that
    names a resource (``arg:kind``), checked for members by ``mlfabric.api.references``;
    ``admin_args`` may be given by admins only; ``admin_unless``: without that argument
    the call is an admin's (``verify`` of every volume)."""
    declared = R.parse(refs)
    rules = [access, R.References(declared)]
    if admin_args:
        rules.append(R.AdminArgs(admin_args))
    if admin_unless:
        rules.append(R.AdminUnless(admin_unless))
    return Operation(module, function, method, path, A.all_of(*rules), stream, import_path,
                     declared)


def _ops() -> list[Operation]:
    op = _op  # a table reads better with a short constructor
    return [
        # volumes and snapshots: members act on volumes labelled project=<theirs>
        op("volumes", "list", "GET", "/volumes", A.filtered(A.volume_project)),
        op("volumes", "create", "POST", "/volumes", A.labelled_create("labels"),
           refs="name:new"),
        op("volumes", "show", "GET", "/volumes/{name}", refs="name:volume"),
        op("volumes", "delete", "DELETE", "/volumes/{name}", refs="name:volume"),
        op("volumes", "plan_delete", "GET", "/volumes/{name}/delete-plan", refs="name:volume"),
        op("volumes", "path", "GET", "/volumes/{name}/path", refs="name:volume"),
        op("volumes", "usage", "GET", "/volumes/{name}/usage", refs="name:volume"),
        op("volumes", "clone", "POST", "/volumes/{name}/clone", A.labelled_create("labels"),
           refs="name:new source:volume"),
        op("snapshots", "list", "GET", "/volumes/{volume}/snapshots", refs="volume:volume"),
        op("snapshots", "create", "POST", "/volumes/{volume}/snapshots",
           refs="volume:volume name:new"),
        op("snapshots", "show", "GET", "/snapshots/{ref}", refs="ref:volume"),
        op("snapshots", "delete", "DELETE", "/snapshots/{ref}", refs="ref:volume"),
        op("snapshots", "restore", "POST", "/snapshots/{ref}/restore", refs="ref:volume"),
        op("snapshots", "diff", "GET", "/diff", refs="old:volume new:volume"),
        op("store", "gc", "POST", "/store/gc", A.ADMIN),
        op("store", "verify", "POST", "/store/verify", refs="volume:volume",
           admin_unless="volume"),
        # the data lake and caches: everyone reads, admins change
        op("remotes", "list", "GET", "/remotes"),
        op("remotes", "add", "POST", "/remotes", A.ADMIN, refs="name:new"),
        op("remotes", "remove", "DELETE", "/remotes/{name}", A.ADMIN, refs="name:remote"),
        op("datasets", "list", "GET", "/datasets", refs="remote:remote"),
        op("datasets", "push", "POST", "/datasets", A.ADMIN,
           refs="source:volume name:dataset remote:remote"),
        op("datasets", "versions", "GET", "/datasets/{dataset}/versions",
           refs="dataset:dataset"),
        op("datasets", "show", "GET", "/dataset-versions/{ref}", refs="ref:dataset"),
        op("datasets", "delete", "DELETE", "/dataset-versions/{ref}", A.ADMIN,
           refs="ref:dataset"),
        op("datasets", "pull", "POST", "/dataset-versions/{ref}/pull", A.ADMIN,
           refs="ref:dataset into:new"),
        op("datasets", "gc", "POST", "/remotes/{remote}/gc", A.ADMIN, refs="remote:remote"),
        op("caches", "list", "GET", "/caches", refs="pool:pool"),
        op("caches", "add", "POST", "/caches", A.ADMIN, refs="ref:dataset pool:pool"),
        op("caches", "prepopulate", "POST", "/caches/prepopulate", A.ADMIN,
           refs="ref:dataset pool:pool"),
        op("caches", "remove", "DELETE", "/caches/{ref}", A.ADMIN, refs="ref:dataset pool:pool"),
        op("caches", "evict", "POST", "/caches/evict", A.ADMIN, refs="pool:pool"),
        op("caches", "stats", "GET", "/caches/stats", refs="pool:pool"),
        op("caches", "pools", "GET", "/cache-pools"),
        op("caches", "config", "PUT", "/cache-pools/{pool}", A.ADMIN, refs="pool:pool"),
        op("transfer", "scan", "POST", "/transfers/scan", A.ADMIN),
        op("transfer", "copy", "POST", "/transfers/copy", A.ADMIN),
        op("transfer", "sync", "POST", "/transfers/sync", A.ADMIN),
        op("transfer", "verify", "POST", "/transfers/verify", A.ADMIN),
        # the scheduler: members act on their projects' jobs
        op("nodes", "list", "GET", "/nodes"),
        op("nodes", "add", "POST", "/nodes", A.ADMIN, refs="name:new pool:pool"),
        op("nodes", "show", "GET", "/nodes/{name}", refs="name:node"),
        op("nodes", "remove", "DELETE", "/nodes/{name}", A.ADMIN, refs="name:node"),
        op("nodes", "sync", "POST", "/nodes/sync", A.ADMIN),
        op("projects", "list", "GET", "/projects"),
        op("projects", "create", "POST", "/projects", A.ADMIN, refs="name:new pool:pool"),
        op("projects", "show", "GET", "/projects/{name}", refs="name:project"),
        op("projects", "update", "PATCH", "/projects/{name}", A.ADMIN,
           refs="name:project pool:pool"),
        op("projects", "delete", "DELETE", "/projects/{name}", A.ADMIN, refs="name:project"),
        op("jobs", "list", "GET", "/jobs", A.all_of(A.project_arg("project", optional=True),
                                                   A.filtered(A.project_field)),
           refs="project:project"),
        op("jobs", "submit", "POST", "/jobs", A.project_arg("project"),
           refs="name:new project:project volumes:volume datasets:mounted-dataset "
                "snapshot_on_complete:volume"),
        op("jobs", "get", "GET", "/jobs/{name}", refs="name:job project:project"),
        op("jobs", "delete", "DELETE", "/jobs", refs="names:job project:project"),
        op("jobs", "logs", "GET", "/jobs/{name}/logs", refs="name:job project:project"),
        op("jobs", "follow_logs", "GET", "/jobs/{name}/logs/stream",
           refs="name:job project:project", stream=True),
        op("jobs", "events", "GET", "/jobs/{name}/events", refs="name:job project:project"),
        op("jobs", "exec_output", "POST", "/jobs/{name}/exec", refs="name:job project:project"),
        op("jobs", "step", "POST", "/scheduler/step", admin_args=("grace_s",)),
        op("jobs", "status", "GET", "/scheduler/status", A.filtered_status),
        # API tokens
        op("tokens", "list", "GET", "/tokens", A.ADMIN),
        op("tokens", "create", "POST", "/tokens", A.ADMIN, refs="user:user projects:project"),
        op("tokens", "revoke", "DELETE", "/tokens/{token_id}", A.ADMIN, refs="token_id:token"),
        # the dashboard's overview: totals for all, rows of one's own projects
        op("web", "overview", "GET", "/overview", A.OVERVIEW),
        # installed apps, with their dashboard pages and routes
        op("apps", "list_apps", "GET", "/apps"),
        *_service_ops(),
        *_app_ops(),
    ]


def _service_ops() -> list[Operation]:
    """Workspaces and inference servers: members act on their projects' ones, and only an
    admin chooses the address they listen on."""
    op = _op
    listed = A.all_of(A.project_arg("project", optional=True), A.filtered(A.project_field))
    return [
        op("workspaces", "list", "GET", "/workspaces", listed, refs="project:project"),
        op("workspaces", "create", "POST", "/workspaces", A.project_arg("project"),
           refs="name:new project:project volumes:volume datasets:mounted-dataset",
           admin_args=("host",)),
        op("workspaces", "show", "GET", "/workspaces/{name}", refs="name:workspace"),
        op("workspaces", "clone", "POST", "/workspaces/{name}/clone",
           A.project_arg("project", optional=True),
           refs="name:new source:workspace project:project"),
        op("workspaces", "snapshot", "POST", "/workspaces/{name}/snapshots",
           refs="name:workspace snapshot:new"),
        op("workspaces", "restore", "POST", "/workspace-snapshots/{ref}/restore",
           refs="ref:workspace"),
        op("workspaces", "stop", "POST", "/workspaces/{name}/stop", refs="name:workspace"),
        op("workspaces", "start", "POST", "/workspaces/{name}/start", refs="name:workspace"),
        op("workspaces", "delete", "DELETE", "/workspaces/{name}", refs="name:workspace"),
        op("serving", "list", "GET", "/inference", listed, refs="project:project"),
        op("serving", "create", "POST", "/inference", A.project_arg("project"),
           refs="name:new model_repo:volume project:project",
           admin_args=("host", "host_ipc")),
        op("serving", "show", "GET", "/inference/{name}", refs="name:inference"),
        op("serving", "delete", "DELETE", "/inference/{name}", refs="name:inference"),
        op("serving", "check_repo", "GET", "/model-repos/{volume}/check", refs="volume:volume"),
    ]


def _app_ops() -> list[Operation]:
    """The routes apps declare (``mlfabric.apps``), under their own names."""
    from mlfabric.apps import discover

    return [_op(app.name, r.function, r.method, r.path, A.named(r.access), refs=r.refs,
                stream=r.stream, import_path=app.module)
            for app in discover().values() for r in app.routes]


def _available(op: Operation) -> bool:
    try:
        return callable(op.func)
    except (ImportError, AttributeError):  # a package not written or not installed yet
        return False


@functools.cache
def operations() -> dict[str, Operation]:
    """The table, without operations whose package is absent; held against the library
    (every argument that names a resource has its rule)."""
    table = {op.key: op for op in _ops() if _available(op)}
    R.check(table.values(), Operation.parameters)
    return table


def find(module: str, function: str) -> Operation | None:
    return operations().get(f"{module}.{function}")
