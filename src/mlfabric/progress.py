"""Progress reporting by callback, as fsspec does: the library never prints."""

from __future__ import annotations


class Progress:
    """No-op progress sink; front ends subclass it (the CLI draws a rich bar)."""

    def start(self, description: str, total: int | None = None) -> None:
        """A new phase begins with ``total`` units of work (None if unknown)."""

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        """``n`` units (and ``nbytes`` bytes) of the current phase are done."""

    def finish(self) -> None:
        """The current phase ended."""


NO_PROGRESS = Progress()
