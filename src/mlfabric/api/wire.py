"""Results over HTTP: the server sends ``jsonable(result)`` (the ``--json`` form); the
client rebuilds the same record types from the function's return annotation, so the CLI
renders a remote result exactly as a local one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Callable
from typing import Any


def from_iso(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def return_type(func: Callable[..., Any]) -> Any:
    return typing.get_type_hints(func).get("return", Any)


def decode(value: Any, annotation: Any) -> Any:
    """``value`` (parsed JSON) as an instance of ``annotation``."""
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        for option in options:
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return decode(value, option)
        return decode(value, options[0]) if len(options) == 1 else value
    if origin in (list, tuple) and isinstance(value, list):
        args = typing.get_args(annotation)
        items = [decode(v, args[0] if args else Any) for v in value]
        return tuple(items) if origin is tuple else items
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _record(value, annotation)
    if annotation is float and isinstance(value, int):
        return float(value)
    return value


def _record(data: dict[str, Any], cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data or not f.init:
            continue
        v = data[f.name]
        if f.name.endswith("_at") and isinstance(v, str):
            kwargs[f.name] = from_iso(v)
        else:
            kwargs[f.name] = decode(v, hints.get(f.name, Any))
    return cls(**kwargs)
