"""The server's background work: scheduling cycles (process exits, time limits, pending
jobs) and cache eviction, in one thread that stops with the server."""

from __future__ import annotations

import logging
import threading
import time

from mlfabric import caches, jobs

log = logging.getLogger("mlfabric.server")


class Background:
    def __init__(self, home: str | None, *, cycle_every_s: float = 1.0,
                 evict_every_s: float = 60.0) -> None:
        self.home = home
        self.cycle_every_s, self.evict_every_s = cycle_every_s, evict_every_s
        self.cycles = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlfabric-background",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        next_evict = time.monotonic() + self.evict_every_s
        while not self._stop.is_set():
            self._guarded("scheduling cycle", lambda: jobs.step(home=self.home))
            self.cycles += 1
            if time.monotonic() >= next_evict:
                self._guarded("cache eviction", lambda: caches.evict(home=self.home))
                next_evict = time.monotonic() + self.evict_every_s
            self._stop.wait(self.cycle_every_s)

    @staticmethod
    def _guarded(what: str, work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except Exception:  # keep serving; the failure is logged with its traceback
            log.exception("%s failed", what)
