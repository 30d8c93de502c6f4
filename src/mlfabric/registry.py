"""Pluggable backends by name, one shape for all of them (storage drivers, scheduler
runtimes, remote transports), as fsspec's registry maps a protocol to a class:

    DRIVERS = Registry("storage driver", {"local": "mlfabric.storage.drivers.local:LocalDriver"})
    DRIVERS.register("mine", "my_package.driver:MyDriver")   # or the class itself
    driver = DRIVERS.get("mine")                              # one shared instance

Classes are imported on first use; an implementation whose packages are missing fails
with one line that says what to install.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from mlfabric.errors import InvalidInput, MlfabricError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to ``"module:Class"`` targets (or classes) with lazily built instances."""

    def __init__(self, kind: str, entries: dict[str, str], *, field: str | None = None,
                 hints: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.field = field or kind.split()[-1]
        self._targets: dict[str, str | type[T]] = dict(entries)
        self._hints = dict(hints or {})
        self._instances: dict[str, T] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._targets)

    def register(self, name: str, target: str | type[T], *, hint: str | None = None) -> None:
        """Add (or replace) ``name``: a ``"module:Class"`` path or the class itself."""
        with self._lock:
            self._targets[name] = target
            self._instances.pop(name, None)
            if hint:
                self._hints[name] = hint

    def unregister(self, name: str) -> None:
        with self._lock:
            self._targets.pop(name, None)
            self._instances.pop(name, None)

    def check(self, name: str) -> str:
        """``name`` if it is registered, else ``InvalidInput`` listing the known ones."""
        if name not in self._targets:
            raise InvalidInput(f"unknown {self.kind} '{name}' (known: "
                               f"{', '.join(self._targets)})", field=self.field, value=name)
        return name

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``."""
        target = self._targets[self.check(name)]
        if not isinstance(target, str):
            return target
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        except ImportError as exc:
            hint = self._hints.get(name)
            raise MlfabricError(f"{self.kind} '{name}' cannot be loaded ({exc})"
                                + (f"; {hint}" if hint else "")) from exc

    def get(self, name: str, *args: Any) -> T:
        """The shared instance of ``name`` (built on first use with ``args``)."""
        inst = self._instances.get(name)
        if inst is None:
            cls = self.load(name)
            with self._lock:
                inst = self._instances.get(name)
                if inst is None:
                    inst = self._instances[name] = cls(*args)
        return inst
