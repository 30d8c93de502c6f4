"""The dashboard's page at ``/`` with its assets under ``/dashboard/``, and the
allocation sampler behind the overview's history.

``mount(app)`` adds the page to the platform server's FastAPI app, whose lifespan calls
``start_sampler(app)`` and ``stop_sampler(app)`` so the history covers the server's life;
``history(app)`` is what ``GET /api/v1/overview`` (an operation of the table) reads.
Each installed app with a page (``mlfabric.apps.App.page``) is served at ``/apps/NAME/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mlfabric.web.overview import AllocationHistory, Sampler

STATIC = Path(__file__).parent / "static"
ASSETS_PREFIX = "/dashboard"


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


def history(app: FastAPI) -> AllocationHistory:
    """The allocation history the server's sampler keeps."""
    return _sampler(app).history


def mount(app: FastAPI) -> None:
    """Add the dashboard page at ``/`` and its assets."""
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC), name="dashboard")
    mount_app_pages(app)


def mount_app_pages(app: FastAPI) -> None:
    """Serve each installed app's page folder at ``/apps/NAME/`` (static files: what
    the page shows it reads from the REST API, with the signed-in token)."""
    from mlfabric.apps import discover

    for name, found in sorted(discover().items()):
        folder = found.page_dir()
        if folder is not None:
            app.mount(f"/apps/{name}", StaticFiles(directory=folder, html=True),
                      name=f"app-{name}")
