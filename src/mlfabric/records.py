"""The base of every dataclass an operation returns: JSON-ready through ``to_dict``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any


def iso_time(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC, e.g. ``2026-11-29T05:14:20Z``."""
    stamp = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


class Record:
    """Mixin for frozen dataclasses: ``to_dict`` gives the ``--json`` form, with every
    ``*_at`` epoch field as ISO 8601 text and the properties named in ``computed``
    (such as ``ref``) included."""

    computed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        for k, v in out.items():
            if k.endswith("_at") and isinstance(v, int | float) and not isinstance(v, bool):
                out[k] = iso_time(v)
        for name in self.computed:
            out[name] = getattr(self, name)
        return out


def jsonable(value: Any) -> Any:
    """A result (records, lists and dicts of them) in its JSON form."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
