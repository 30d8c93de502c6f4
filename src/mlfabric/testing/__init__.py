"""Conformance suites for mlfabric's pluggable backends, shipped as importable pytest base
classes (as fsspec ships ``tests/abstract``): a new storage driver, runtime or remote
transport registers itself and joins with a one-line test class::

    from mlfabric.testing.drivers import DriverConformance
    class TestMyDriver(DriverConformance, driver="mine"): ...

What an implementation can do that others cannot is declared, not guessed from its
name: capability fixtures (drivers, remotes) and ``Runtime.capabilities``. Importing
these modules needs pytest (the ``test`` extra).
"""

from __future__ import annotations

from typing import Any


class Conformance:
    """Base of the suites: settings given as class keywords configure a subclass, so a
    test class is one line: ``class TestMine(DriverConformance, driver="mine"): ...``."""

    def __init_subclass__(cls, **settings: Any) -> None:
        super().__init_subclass__()
        for name, value in settings.items():
            if not hasattr(cls, name):
                raise TypeError(f"{cls.__name__}: unknown suite setting {name!r}")
            setattr(cls, name, value)
