"""Helpers for building and loading very large in-memory structures (indexes, manifests)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building 100k tuples otherwise triggers dozens
    of full collections, which cost more than the work itself. Tuples of ints and strings
    form no cycles, so nothing is leaked by the pause."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
