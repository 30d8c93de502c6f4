"""Object ids: ``sha256:<64 hex>``, the content address of every stored file and
manifest, locally (``objects/ab/cdef...``) and in a lake (``objects/ab/cdef...``).

The one place that spells the algorithm, hashes, validates ids and turns them into
storage keys.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from mlfabric.errors import InvalidInput

ALGO = "sha256"
PREFIX = ALGO + ":"
OID_LENGTH = len(PREFIX) + 64
CHUNK = 1 << 20  # the copy and hashing buffer size
_HEX = frozenset("0123456789abcdef")


def oid_of(data: bytes | bytearray | memoryview) -> str:
    """The id of ``data``."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def new_hash() -> Any:
    """A fresh hash object of the algorithm (for hot loops that feed it directly)."""
    return hashlib.sha256()


def oid_of_hash(h: Any) -> str:
    """The id a hash object from ``new_hash`` has reached."""
    return PREFIX + h.hexdigest()


class Hasher:
    """A streaming hash whose result is an object id (``update`` chunks, then ``oid``)."""

    __slots__ = ("_h", "size")

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._h.update(chunk)
        self.size += len(chunk)

    @property
    def oid(self) -> str:
        return PREFIX + self._h.hexdigest()


def is_oid(text: str) -> bool:
    """Whether ``text`` is a well-formed object id."""
    return (len(text) == OID_LENGTH and text.startswith(PREFIX)
            and set(text[len(PREFIX):]) <= _HEX)


def hex_of(oid: str) -> str:
    """The hex digest of ``oid``; ``InvalidInput`` when it is malformed."""
    if not is_oid(oid):
        raise InvalidInput(f"malformed object id '{oid}'", field="oid", value=oid)
    return oid[len(PREFIX):]


def key_of(oid: str) -> str:
    """``ab/cdef...``: where ``oid`` lives below an objects folder."""
    h = hex_of(oid)
    return f"{h[:2]}/{h[2:]}"


def oid_of_key(key: str) -> str | None:
    """The id that a key ``ab/cdef...`` names; None for anything else (temp files)."""
    fan, sep, rest = key.partition("/")
    if not sep or len(fan) != 2 or len(rest) != 62:
        return None
    oid = PREFIX + fan + rest
    return oid if is_oid(oid) else None


_local = threading.local()


def copy_buffer() -> bytearray:
    """This thread's copy buffer of ``CHUNK`` bytes (no allocation per chunk)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(CHUNK)
    return buf


def hash_file(path: str | os.PathLike[str]) -> str:
    """The id of a file's content."""
    h = new_hash()
    buf = copy_buffer()
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return PREFIX + h.hexdigest()
