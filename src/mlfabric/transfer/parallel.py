"""Run one function over many items on worker threads; every outcome comes back.

Each future's result or exception is read, so no worker failure is lost; the caller
decides what a failure means. At most a few items per worker are in flight, so a
listing of millions of files does not become millions of futures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 256


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    item: T
    value: R | None = None
    error: BaseException | None = None


def run_parallel(fn: Callable[[T], R], items: Iterable[T], workers: int
                 ) -> Iterator[Outcome[T, R]]:
    """Yield an ``Outcome`` per item as it completes (order of completion)."""
    pending: dict[Future[R], T] = {}
    source = iter(items)
    window = max(1, workers) * 4
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mlfabric-xfer")
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(fn, item)] = item
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                item = pending.pop(fut)
                error = fut.exception()
                yield Outcome(item, None if error is not None else fut.result(), error)
    finally:
        # Early exit (an interrupt, the consumer stopped): drop work not yet started,
        # wait for work in progress so no thread outlives the call.
        pool.shutdown(wait=True, cancel_futures=True)
