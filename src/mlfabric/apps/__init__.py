"""Reference pipelines as apps, found through the entry-point group ``mlfabric.apps``.

An app is a package that uses only mlfabric's public API: its operations in its
``__init__`` (lazy exports), its typer app in ``cli.py``, and, optionally, REST routes
to operations of its public module. It declares itself with an ``App`` in its package
and one entry point, so adding a pipeline edits no front-end file::

    # pyproject.toml
    [project.entry-points."mlfabric.apps"]
    faces = "mlfabric.apps.faces:APP"

The CLI shows every app as a noun (``mlfabric faces ...``) and the server adds its routes
to the operation table. An app with a ``page`` (a folder of its package holding
``index.html`` and its assets) gets it served at ``/apps/NAME/`` and shown in the
dashboard's Apps tab; the page calls the REST API through ``/dashboard/appkit.js``
(``mlfabric.api(path)``, with the token the dashboard signed in with).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric.errors import MlfabricError
from mlfabric.records import Record

GROUP = "mlfabric.apps"


@dataclass(frozen=True)
class Route:
    """One REST route to an operation of an app's public module.

    ``access``: ``admin``, ``any`` (every token) or ``project`` (the ``project`` argument
    must be a project of the caller); what its arguments name is in ``refs``.
    """

    function: str
    method: str
    path: str  # under /api/v1
    access: str = "admin"
    stream: bool = False
    # Its arguments that name resources, "arg:kind" (mlfabric.api.references): a member
    # reaches only its projects' volumes, jobs, workspaces and inference servers.
    refs: str = ""


@dataclass(frozen=True)
class App:
    """What an app offers the front ends."""

    name: str  # its CLI noun
    help: str  # one line for ``mlfabric --help``
    module: str  # its public module (``mlfabric.apps.faces``)
    cli: str | None = None  # "module:attr" of its typer app
    routes: tuple[Route, ...] = field(default=())
    page: str | None = None  # a folder of its package with index.html: its dashboard page

    def page_dir(self) -> Path | None:
        """The folder of the app's dashboard page, when it has one that exists."""
        if self.page is None:
            return None
        spec = importlib.util.find_spec(self.module)
        places = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(p) / self.page for p in places if (Path(p) / self.page / "index.html")
                 .is_file()]
        return found[0] if found else None

    @property
    def page_url(self) -> str | None:
        """Where the server serves its page (``None``: it has none)."""
        return f"/apps/{self.name}/" if self.page is not None else None

    def load_cli(self) -> Any:
        """The app's typer app."""
        if self.cli is None:
            raise MlfabricError(f"app '{self.name}' has no command-line interface")
        module, _, attr = self.cli.partition(":")
        return getattr(importlib.import_module(module), attr)


def _entry_points(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(name, "module:attr") of every ``mlfabric.apps`` entry point installed on ``paths``.

    Read straight from each distribution's ``entry_points.txt``: ``importlib.metadata``
    costs more at start-up than the whole ``mlfabric --help`` may take.
    """
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for base in paths:
        try:
            entries = sorted(e.name for e in os.scandir(base or ".")
                             if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for dist in entries:
            project = dist.rsplit("-", 1)[0] if dist.endswith(".dist-info") else dist
            if project in seen:  # the first on the path wins, as for imports
                continue
            seen.add(project)
            try:
                with open(os.path.join(base or ".", dist, "entry_points.txt"),
                          encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            found += _group(text, GROUP)
    return found


def _group(text: str, group: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]").strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def discover() -> dict[str, App]:
    """Every installed app by name (entry points that fail to load are left out, with
    the reason in ``broken()``)."""
    apps: dict[str, App] = {}
    _broken.clear()
    for name, target in _entry_points(sys.path):
        if name in apps:
            continue
        module, _, attr = target.partition(":")
        try:
            app = getattr(importlib.import_module(module), attr or "APP")
        except Exception as exc:  # a broken third-party app must not break the CLI
            _broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(app, App):
            apps[app.name] = app
        else:
            _broken[name] = f"{target} is not an mlfabric.apps.App"
    return apps


_broken: dict[str, str] = {}


@dataclass(frozen=True)
class AppInfo(Record):
    """An installed app as users see it: its noun, what it does, its dashboard page and
    the REST routes it adds (``METHOD /api/v1/...``)."""

    name: str
    help: str
    page: str | None
    routes: list[str] = field(default_factory=list)


def list_apps() -> list[AppInfo]:
    """Every installed app, by name."""
    return [AppInfo(a.name, a.help, a.page_url if a.page_dir() else None,
                    [f"{r.method} /api/v1{r.path}" for r in a.routes])
            for _, a in sorted(discover().items())]


def broken() -> dict[str, str]:
    """Apps whose entry point could not be loaded in the last ``discover``, and why."""
    return dict(_broken)


__all__ = ["GROUP", "App", "AppInfo", "Route", "broken", "discover", "list_apps"]
