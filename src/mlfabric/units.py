"""Sizes in SI and IEC units (``50Gi``, ``1.5 TiB``, ``500MB``, ``1TB``) and durations."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from mlfabric.errors import InvalidInput

_SIZE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)
_PREFIX = "kmgtpe"
# Sizes above this are not a real storage budget, and a catalog keeps sizes in signed
# 64-bit integers: reject rather than overflow downstream.
MAX_SIZE = 2**63 - 1
# Durations above this (a century) are not a time limit, a grace or a timeout anyone means,
# and past it clocks overflow (timeouts of the standard library, timestamps).
MAX_DURATION_S = 100 * 365 * 86400.0


def _unit_factor(unit: str) -> int | None:
    u = unit.lower()
    if u in ("", "b"):
        return 1
    if u[0] not in _PREFIX:
        return None
    power = _PREFIX.index(u[0]) + 1
    rest = u[1:]
    if rest in ("i", "ib"):
        return 1024**power
    if rest in ("", "b"):
        return 1000**power
    return None


def parse_size(text: str | int) -> int:
    """Parse a size with an optional SI (kB, MB, ...) or IEC (Ki, MiB, ...) unit into bytes."""
    if isinstance(text, int):
        if text < 0:
            raise InvalidInput(f"invalid size {text}: must not be negative", field="size")
        if text > MAX_SIZE:
            raise InvalidInput(f"invalid size {text}: too large", field="size", value=text)
        return text
    raw = str(text)
    if raw.strip().startswith("-"):
        raise InvalidInput(f"invalid size '{raw}': must not be negative", field="size", value=raw)
    m = _SIZE.match(raw)
    if not m:
        raise InvalidInput(
            f"invalid size '{raw}': expected a number and a unit such as 50Gi, 1.5TiB, 500MB",
            field="size", value=raw)
    factor = _unit_factor(m.group("unit"))
    if factor is None:
        raise InvalidInput(
            f"invalid size '{raw}': unknown unit '{m.group('unit')}' "
            "(use B, K/KB/Ki/KiB, M/MB/Mi/MiB, G.., T.., P.., E..)", field="size", value=raw)
    try:
        value = Decimal(m.group("num")) * factor
    except InvalidOperation as exc:  # pragma: no cover - regex admits only plain decimals
        raise InvalidInput(f"invalid size '{raw}'", field="size", value=raw) from exc
    if value > MAX_SIZE:
        raise InvalidInput(f"invalid size '{raw}': too large", field="size", value=raw)
    return int(value)


def format_size(n: int | float) -> str:
    """Human-readable IEC size, e.g. ``1.5 GiB``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """Parse ``90s``, ``15m``, ``8h``, ``1d``, ``1h30m`` (or plain seconds) into seconds."""
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise InvalidInput(f"invalid {field} {text}: must be a number of at least 0",
                               field=field, value=str(text))
        seconds = float(text)
    else:
        raw = str(text).strip()
        parts = _DURATION.findall(raw)
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            seconds = float(raw)
        elif parts and ("".join(n + u for n, u in parts).lower()
                        == re.sub(r"\s+", "", raw).lower()):
            seconds = sum(float(n) * _SECONDS[u.lower()] for n, u in parts)
        else:
            raise InvalidInput(f"invalid {field} '{raw}': expected e.g. 90s, 15m, 8h, 1d",
                               field=field, value=raw)
    if seconds > MAX_DURATION_S:
        raise InvalidInput(f"invalid {field} {text!r}: longer than a century", field=field,
                           value=str(text))
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as ``7d``, ``1h30m``, ``1m30s``, ``0.5s``: whole units, largest first, the
    form ``parse_duration`` reads back."""
    whole = int(seconds)
    if seconds != whole and seconds < 60:
        return f"{seconds:g}s"
    s = round(seconds)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"
