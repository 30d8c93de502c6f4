"""The live dashboard: a single page served at ``/`` with its assets under
``/dashboard/``, and ``GET /api/v1/overview`` fed by an allocation sampler.

``mount(app)`` adds all of it to the platform server's FastAPI app, whose lifespan calls
``start_sampler(app)`` and ``stop_sampler(app)`` so the history covers the server's life.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mlfabric.api.auth import principal
from mlfabric.auth.records import Principal
from mlfabric.web.overview import AllocationHistory, Sampler, summarize

STATIC = Path(__file__).parent / "static"
ASSETS_PREFIX = "/dashboard"

__all__ = ["STATIC", "mount", "overview", "start_sampler", "stop_sampler"]


def overview(home: str | None, history: AllocationHistory, *,
             sees: Callable[[str], bool], since: float | None = None) -> dict[str, Any]:
    """The overview of the cluster at ``home`` plus the history newer than ``since``."""
    from mlfabric import jobs, nodes, projects

    data = summarize(nodes.list(home=home), projects.list(home=home),
                     jobs.list(home=home, states=["Pending", "Running"]), sees=sees)
    data["history"] = history.since(since, sees=sees)
    return data


def _sampler(app: FastAPI) -> Sampler:
    sampler = getattr(app.state, "dashboard_sampler", None)
    if sampler is None:
        sampler = Sampler(getattr(app.state, "home", None), AllocationHistory())
        app.state.dashboard_sampler = sampler
    return sampler


def start_sampler(app: FastAPI) -> None:
    """Start sampling GPU allocation every 2 s (the overview's history)."""
    _sampler(app).start()


def stop_sampler(app: FastAPI) -> None:
    """Stop the sampler thread."""
    sampler = getattr(app.state, "dashboard_sampler", None)
    if sampler is not None:
        sampler.stop()


def mount(app: FastAPI) -> None:
    """Add the dashboard page at ``/``, its assets and ``GET /api/v1/overview``."""
    @app.get("/api/v1/overview", tags=["dashboard"])
    def get_overview(request: Request, since: float | None = Query(
                         None, description="Only history samples after this epoch time."),
                     who: Principal = Depends(principal)) -> dict[str, Any]:
        """Nodes, GPUs total/allocated/idle, jobs, GPUs per project against quota and
        fair share, and allocation samples over time (every 2 s, last hour)."""
        home = getattr(request.app.state, "home", None)
        return overview(home, _sampler(request.app).history, sees=who.sees, since=since)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC), name="dashboard")
