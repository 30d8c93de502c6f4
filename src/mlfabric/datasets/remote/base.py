"""The remote interface: a lake on one location, content-addressed like the local object
store so objects are shared by every version and every dataset of a remote::

    objects/ab/cdef...          file content, id sha256:abcdef...
    manifests/ab/cdef...        a version's manifest (the snapshot format)
    datasets/NAME/vN.json       a version: manifest id, source volume@snapshot, counts
    pending/ID.json             a push in progress (a gc root until it finishes)

A transport implements the few primitives (``list``, ``put_object``, ``get_object``,
``read``, ``write``, ``delete``, ``flush``, ``check``); push, pull, cache and gc use only
them and the layout helpers here. Objects are verified on the way in and on the way out:
a lake never holds an object under a wrong address, and a damaged one is never served.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlfabric import oids
from mlfabric.errors import CorruptData
from mlfabric.transfer import Location

OBJECTS = "objects"
MANIFESTS = "manifests"
DATASETS = "datasets"
PENDING = "pending"

OnBytes = Callable[[int], None] | None


def object_key(oid: str, area: str = OBJECTS) -> str:
    """``objects/ab/cdef...``: the same addressing as the local object store."""
    return f"{area}/{oids.key_of(oid)}"


def oid_of_key(rel: str, area: str = OBJECTS) -> str | None:
    """The object id a key under ``area`` names, None for anything else (temp files)."""
    head, sep, rest = rel.partition("/")
    return oids.oid_of_key(rest) if sep and head == area else None


def version_key(dataset: str, version: str) -> str:
    return f"{DATASETS}/{dataset}/{version}.json"


@dataclass(frozen=True)
class Stored:
    """A key in the lake with its size and modification (upload) time."""

    key: str
    size: int
    mtime: float | None


class RemoteLake(ABC):
    """A lake rooted at ``loc``; ``name`` is the remote's name, for messages."""

    def __init__(self, loc: Location, name: str) -> None:
        self.loc = loc
        self.name = name

    # -- the primitives a transport provides ---------------------------------------------
    @abstractmethod
    def check(self) -> None:
        """Fail with one clear line when the lake cannot be reached (bucket, endpoint,
        credentials); a missing local folder is fine (created on first write)."""

    @abstractmethod
    def list(self, prefix: str) -> list[Stored]:
        """Every key under ``prefix`` (one recursive listing; empty when missing)."""

    @abstractmethod
    def put_object(self, oid: str, src: Path, size: int, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        """Upload ``src`` as ``oid``; refused (nothing visible) when its bytes do not hash
        to ``oid``."""

    @abstractmethod
    def get_object(self, oid: str, size: int, out: BinaryIO, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        """Write the object's bytes to ``out``; ``NotFound`` when missing, ``CorruptData``
        when they do not hash to ``oid`` (the caller discards what was written)."""

    @abstractmethod
    def read(self, rel: str) -> bytes | None:
        """A document's bytes, None when it does not exist."""

    @abstractmethod
    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Write a whole document; with ``exclusive`` only if it does not exist yet
        (returns False then). Readers see the old document or the whole new one."""

    @abstractmethod
    def delete(self, rels: Iterable[str]) -> int:
        """Remove keys (missing ones are fine); returns how many were asked for."""

    def flush(self) -> None:  # noqa: B027 - a no-op is right for object stores
        """Make objects written so far durable (object stores already are)."""

    # -- derived -------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        return self.loc.join(rel)

    def display(self, rel: str = "") -> str:
        return self.loc.display(rel)

    def list_objects(self, area: str = OBJECTS) -> dict[str, Stored]:
        """Objects present in the lake (temp files of unfinished uploads left out)."""
        return {oid: s for s in self.list(area) if (oid := oid_of_key(s.key, area))}

    def leftovers(self, area: str = OBJECTS) -> list[Stored]:
        """Temporary files of interrupted uploads to a local or renaming lake."""
        from mlfabric.transfer.listing import temp_job

        return [s for s in self.list(area) if temp_job(s.key) is not None]

    def damaged(self, oid: str, got: int, size: int) -> CorruptData:
        return CorruptData(f"remote '{self.name}': object {oid} is damaged ({got} bytes, "
                           f"{size} expected)", objects=[oid])


def stream_hashed(f: Any, out: Any, on_bytes: OnBytes) -> tuple[int, str]:
    """Copy the raw file ``f`` to ``out`` in chunks; the byte count and id of what passed."""
    h = oids.Hasher()
    buf = oids.copy_buffer()
    view = memoryview(buf)
    while k := f.readinto(buf):
        h.update(view[:k])
        out.write(view[:k])
        if on_bytes is not None:
            on_bytes(k)
    return h.size, h.oid


def copy_verified(src: Path, out: Any, oid: str, size: int, on_bytes: OnBytes) -> None:
    """Copy the local object file ``src`` to ``out``, checking it is ``oid`` of ``size``."""
    try:
        f = open(src, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise CorruptData(f"object {oid} is missing from the local store", objects=[oid]) \
            from None
    with f:
        n, actual = stream_hashed(f, out, on_bytes)
    if n != size or actual != oid:
        raise CorruptData(f"local data for object {oid} is damaged (run 'mlfabric verify')",
                          objects=[oid])
