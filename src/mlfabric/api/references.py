"""Every argument of an operation that names a resource, declared in the operation table,
and how a member's access to it is checked.

A member reaches only its projects' volumes, jobs, workspaces and inference servers,
through every argument that can name one (a job's ``volumes``, ``model_repo``,
``snapshot_on_complete``, a clone's ``source``, a diff's ``old`` and ``new``...); another
project's resource is refused as "not found", exactly as a missing one is, so a member
learns nothing of other projects' names. Public kinds (datasets, pools, remotes, nodes)
are read by everyone and changed by admins; a dataset version a member's job mounts must
already be cached (an admin chose to spend the cache on it).

The table is held against the library at start-up (``check``): a parameter whose name
says it names a resource must be declared, and a declaration must name a parameter.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlfabric.api import access as A
from mlfabric.auth import Principal
from mlfabric.errors import AccessDenied, MlfabricError, NotFound

# Parameter names that name a resource (or a new one): each must be declared a reference.
REFERENCE_NAMES = frozenset({
    "name", "names", "volume", "volumes", "source", "model_repo", "snapshot_on_complete",
    "ref", "old", "new", "dataset", "datasets", "pool", "remote", "node", "project",
    "projects", "token_id", "into", "job", "snapshot", "user"})
# Kinds a project owns (members reach their own) and kinds everyone reads.
OWNED = frozenset({"volume", "job", "workspace", "inference"})
# "new": a name being created; "text": a name that is no resource at all (an app's own).
KINDS = OWNED | {"project", "mounted-dataset", "dataset", "pool", "remote", "node", "token",
                 "user", "new", "text"}


@dataclass(frozen=True)
class Ref:
    """Argument ``arg`` names a resource of ``kind``."""

    arg: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reference kind {self.kind!r}")


def parse(spec: str) -> tuple[Ref, ...]:
    """``"name:volume source:volume"`` as references."""
    out = []
    for item in spec.split():
        arg, _, kind = item.partition(":")
        out.append(Ref(arg, kind))
    return tuple(out)


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in (value or [])]


def _volume(item: str) -> str:
    """``VOL``, ``VOL@SNAP`` or ``VOL:PATH`` -> ``VOL``."""
    return item.split("@", 1)[0].split(":", 1)[0]


def _owner(kind: str, name: str, args: dict[str, Any], home: str | None) -> str | None:
    """The project that owns resource ``name`` of ``kind`` (NotFound when missing)."""
    if kind == "volume":
        from mlfabric import volumes

        return A.volume_project(volumes.show(_volume(name), home=home))
    if kind == "job":
        from mlfabric import jobs

        return jobs.get(name, project=args.get("project"), home=home).project
    from mlfabric import serving, workspaces

    module: Any = workspaces if kind == "workspace" else serving
    return module.show(name.split("@", 1)[0], home=home).project


_KIND_WORDS = {"volume": "volume", "job": "job", "workspace": "workspace",
               "inference": "inference server"}


def _owned(kind: str, who: Principal, value: Any, args: dict[str, Any],
           home: str | None) -> None:
    for name in _names(value):
        try:
            project = _owner(kind, name, args, home)
        except NotFound:
            continue  # the operation says it is missing, in the same words
        if not who.sees(project):
            shown = _volume(name) if kind == "volume" else name.split("@", 1)[0]
            if kind == "job" and args.get("project"):
                shown = f"{args['project']}/{name}"
            raise NotFound(_KIND_WORDS[kind], shown)


def _mounted_dataset(who: Principal, value: Any, args: dict[str, Any],
                     home: str | None) -> None:
    """A member's job mounts only dataset versions an admin has cached."""
    if not _names(value):
        return
    from mlfabric import caches

    cached = {e.ref for e in caches.list(home=home) if e.state == "complete"}
    for ref in _names(value):
        if ref not in cached:
            raise AccessDenied(f"dataset version {ref} is not cached; ask an admin to cache "
                               f"it (mlfabric cache add {ref})")


@dataclass(frozen=True)
class References(A.Access):
    """The member checks of an operation's references."""

    refs: tuple[Ref, ...]

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        if who.is_admin:
            return args
        for ref in self.refs:
            if ref.arg not in args or args[ref.arg] is None:
                continue
            if ref.kind in OWNED:
                _owned(ref.kind, who, args[ref.arg], args, home)
            elif ref.kind == "mounted-dataset":
                _mounted_dataset(who, args[ref.arg], args, home)
        return args


@dataclass(frozen=True)
class AdminArgs(A.Access):
    """Arguments only an admin may give (a bind address, a preemption grace period)."""

    names: tuple[str, ...]

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        given = [n for n in self.names if args.get(n) is not None]
        if given and not who.is_admin:
            raise AccessDenied(f"only an admin may set {', '.join(given)}")
        return args


@dataclass(frozen=True)
class AdminUnless(A.Access):
    """Without argument ``arg`` the call reaches every project's resources: an admin's."""

    arg: str

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        if args.get(self.arg) is None and not who.is_admin:
            raise AccessDenied(f"user '{who.user}' is not an admin (name a {self.arg})")
        return args


def check(operations: Iterable[Any], params: Callable[[Any], list[inspect.Parameter]]
          ) -> None:
    """Hold the table against the library: a resource-naming parameter without a
    declared reference, or a reference to a parameter the function lacks, is a bug."""
    problems = []
    for op in operations:
        names = {p.name for p in params(op)}
        declared = {r.arg for r in op.refs}
        for missing in sorted((names & REFERENCE_NAMES) - declared):
            problems.append(f"{op.key}: argument '{missing}' names a resource but has no "
                            "reference rule")
        for stray in sorted(declared - names):
            problems.append(f"{op.key}: a reference rule names '{stray}', which "
                            f"{op.key} does not take")
    if problems:
        raise MlfabricError("the operation table does not match the library:\n  "
                            + "\n  ".join(problems))
