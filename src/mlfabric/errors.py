"""The one exception root of mlfabric and its few data-carrying subclasses.

Front ends turn any ``MlfabricError`` into one line ``error: <message>`` and exit 1.
"""

from __future__ import annotations

import math
from typing import Any


class MlfabricError(Exception):
    """Root of every error mlfabric raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """``{"type", "message", ...data}``: the error as the REST API answers it and the
        CLI prints it under ``--json``."""
        data = {k: _json_value(v) for k, v in vars(self).items()
                if k != "message" and isinstance(v, str | int | float | bool | list | None)}
        return {"type": type(self).__name__, "message": self.message, **data}


def _json_value(v: Any) -> Any:
    """JSON has no NaN or infinity: a value such as ``float("inf")`` travels as text."""
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


class InvalidInput(MlfabricError, ValueError):
    """A user-supplied value is malformed (name, size, reference, option)."""

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class NotFound(MlfabricError, KeyError):
    """A named thing (volume, snapshot, ...) does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} '{name}' not found")
        self.kind = kind
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class AlreadyExists(MlfabricError, FileExistsError):
    """A named thing already exists."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} '{name}' already exists")
        self.kind = kind
        self.name = name


class Busy(MlfabricError, RuntimeError):
    """A resource is in use (locked, leased, has dependents)."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource


class CorruptData(MlfabricError, OSError):
    """Stored data does not match its recorded content hash."""

    def __init__(self, message: str, *, paths: list[str] | None = None,
                 objects: list[str] | None = None) -> None:
        super().__init__(message)
        self.paths = list(paths or [])
        self.objects = list(objects or [])


class AccessDenied(MlfabricError, PermissionError):
    """A caller without a valid token (``unauthenticated``) or without the right to act on
    a resource of another project."""

    def __init__(self, message: str, *, unauthenticated: bool = False) -> None:
        super().__init__(message)
        self.unauthenticated = unauthenticated
