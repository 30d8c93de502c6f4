"""Advisory file locks (flock): released by the kernel when a holder dies, so a killed
process never leaves a stale lock behind.

Lock order, to rule out deadlock: the store lock first, then volume locks by name.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from mlfabric.errors import Busy

DEFAULT_WAIT_S = 120.0


@contextmanager
def file_lock(path: Path, *, shared: bool = False, wait_s: float = DEFAULT_WAIT_S,
              what: str = "resource") -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + wait_s
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, op)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Busy(f"{what} is busy (another operation holds it); try again",
                               resource=what) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)


@contextmanager
def store_and_volumes(locks_dir: Path, names: list[str], *, exclusive_store: bool = False,
                      wait_s: float = DEFAULT_WAIT_S) -> Iterator[None]:
    """Hold the store lock (shared unless ``exclusive_store``) and each volume's lock."""
    with ExitStack() as stack:
        stack.enter_context(file_lock(locks_dir / "store.lock", shared=not exclusive_store,
                                      wait_s=wait_s, what="the object store"))
        for name in sorted(set(names)):
            stack.enter_context(file_lock(locks_dir / "volumes" / f"{name}.lock", wait_s=wait_s,
                                          what=f"volume '{name}'"))
        yield
