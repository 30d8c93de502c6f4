"""The platform server: REST API under ``/api/v1``, OpenAPI at ``/docs``, the dashboard
at ``/``, and the background scheduler loop, all over one home."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlfabric.api import errors
from mlfabric.api.background import Background
from mlfabric.api.routes import router
from mlfabric.errors import MlfabricError

log = logging.getLogger("mlfabric.server")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()))
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(home: str | None = None, *, background: bool = True) -> FastAPI:
    """The ASGI app over ``home`` (with the background loop unless told otherwise)."""
    from mlfabric import web

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = Background(home) if background else None
        if loop is not None:
            loop.start()
        app.state.background = loop
        start = getattr(web, "start_sampler", None)
        if start is not None:
            start(app)
        try:
            yield
        finally:
            stop = getattr(web, "stop_sampler", None)
            if stop is not None:
                stop(app)
            if loop is not None:
                loop.stop()

    app = FastAPI(title="mlfabric", version="1", lifespan=lifespan,
                  description="Versioned volumes, datasets, caches, GPU scheduling, "
                  "workspaces and inference servers.")
    app.state.home = home

    @app.exception_handler(MlfabricError)
    async def _mlfabric_error(request: Request, exc: MlfabricError) -> JSONResponse:
        return JSONResponse(errors.body_of(exc), status_code=errors.status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"error": {"type": "ValidationError", "message": _validation_message(exc)}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        body = {"error": {"type": "InternalError", "message": f"internal error: {exc}"}}
        return JSONResponse(body, status_code=500)

    app.include_router(router())
    web.mount(app)
    return app
