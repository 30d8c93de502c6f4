"""Library errors over HTTP, both ways: the server answers an ``MlfabricError`` with a
status and ``{"error": {"type", "message", ...data}}``; the client raises the same class
with the same message, so ``error: ...`` reads the same in local and server mode."""

from __future__ import annotations

from typing import Any

from mlfabric import errors as E

# most specific first
_STATUS: list[tuple[type[E.MlfabricError], int]] = [
    (E.InvalidInput, 400),
    (E.NotFound, 404),
    (E.AlreadyExists, 409),
    (E.Busy, 409),
    (E.CorruptData, 500),
    (E.AccessDenied, 403),
    (E.MlfabricError, 400),
]
_TYPES = {cls.__name__: cls for cls, _ in _STATUS}


def status_of(exc: E.MlfabricError) -> int:
    if isinstance(exc, E.AccessDenied) and exc.unauthenticated:
        return 401
    return next(code for cls, code in _STATUS if isinstance(exc, cls))


def body_of(exc: E.MlfabricError) -> dict[str, Any]:
    return {"error": exc.to_dict()}


def rebuild(status: int, body: Any) -> E.MlfabricError:
    """The exception a server's error answer stands for."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or "message" not in err:
        return E.MlfabricError(f"server answered {status}: {str(body)[:200]}")
    cls = _TYPES.get(str(err.get("type")), E.MlfabricError)
    exc = cls.__new__(cls)
    E.MlfabricError.__init__(exc, str(err["message"]))
    for k, v in err.items():
        if k not in ("type", "message"):
            setattr(exc, k, v)
    if isinstance(exc, E.AccessDenied) and not hasattr(exc, "unauthenticated"):
        exc.unauthenticated = status == 401
    return exc
