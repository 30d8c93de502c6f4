"""The remote interface: a lake on one fsspec location (local folder, ``memory://``,
``s3://``). Objects are content-addressed and verified on the way in and on the way out;
documents (manifests, version files) are small and written whole.

The few primitives here (list, put, get, read, write, delete) are all push, pull, cache
and gc use; a local folder takes a fast path through ``os`` calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlfabric.errors import CorruptData, InvalidInput, MlfabricError, NotFound
from mlfabric.transfer.content import CHUNK
from mlfabric.transfer.listing import mtime_of, temp_job, temp_path
from mlfabric.transfer.urls import Location, probe_destination, translated
from mlfabric.transfer.writers import open_pending, syncfs

ALGO = "sha256"
_PREFIX = ALGO + ":"
OBJECTS = "objects"
MANIFESTS = "manifests"
DATASETS = "datasets"
PENDING = "pending"
_HEX = frozenset("0123456789abcdef")


def _hex(oid: str) -> str:
    h = oid[len(_PREFIX):]
    if not oid.startswith(_PREFIX) or len(h) != 64 or not set(h) <= _HEX:
        raise InvalidInput(f"malformed object id '{oid}'", field="oid", value=oid)
    return h


def object_key(oid: str, area: str = OBJECTS) -> str:
    """``objects/ab/cdef...``: the same addressing as the local object store."""
    h = _hex(oid)
    return f"{area}/{h[:2]}/{h[2:]}"


def oid_of_key(rel: str, area: str = OBJECTS) -> str | None:
    """The object id a key under ``area`` names, None for anything else (temp files)."""
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] != area or len(parts[1]) != 2 or len(parts[2]) != 62:
        return None
    h = parts[1] + parts[2]
    return _PREFIX + h if set(h) <= _HEX else None


def version_key(dataset: str, version: str) -> str:
    return f"{DATASETS}/{dataset}/{version}.json"


@dataclass(frozen=True)
class Stored:
    """A key in the lake with its size and modification (upload) time."""

    key: str
    size: int
    mtime: float | None


class RemoteStore:
    """A lake rooted at ``loc``; ``name`` is the remote's name, for messages."""

    def __init__(self, loc: Location, name: str) -> None:
        self.loc = loc
        self.name = name

    # -- paths ------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        return self.loc.join(rel)

    def display(self, rel: str = "") -> str:
        return self.loc.display(rel)

    def check(self) -> None:
        """Fail with one clear line when the lake cannot be reached (bucket, endpoint,
        credentials); a missing local folder is fine (created on first write)."""
        probe_destination(self.loc)

    # -- listing ----------------------------------------------------------------------
    def list(self, prefix: str) -> list[Stored]:
        """Every key under ``prefix`` (one recursive listing; empty when missing)."""
        if self.loc.is_local:
            return self._list_local(prefix)
        with translated(self.loc):
            try:
                found = self.loc.fs.find(self.path(prefix), detail=True, withdirs=False)
            except FileNotFoundError:
                return []
        out = []
        for name, info in found.items():
            if info.get("type", "file") != "file":
                continue
            out.append(Stored(self.loc.rel(name), int(info.get("size") or 0), mtime_of(info)))
        return out

    def _list_local(self, prefix: str) -> list[Stored]:
        out: list[Stored] = []
        base = self.path(prefix)
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = os.path.relpath(dirpath, self.loc.root or "/")
            for f in files:
                try:
                    st = os.stat(os.path.join(dirpath, f))
                except FileNotFoundError:
                    continue
                out.append(Stored(posixpath.join(rel_dir, f), st.st_size, st.st_mtime))
        return out

    def list_objects(self, area: str = OBJECTS) -> dict[str, Stored]:
        """Objects present in the lake (temp files of unfinished uploads left out)."""
        return {oid: s for s in self.list(area) if (oid := oid_of_key(s.key, area))}

    def leftovers(self, area: str = OBJECTS) -> list[Stored]:
        """Temporary files of interrupted uploads to a local or renaming lake."""
        return [s for s in self.list(area) if temp_job(s.key) is not None]

    # -- objects ----------------------------------------------------------------------
    def put_object(self, oid: str, src: Path, size: int, area: str = OBJECTS,
                   on_bytes: Callable[[int], None] | None = None) -> None:
        """Upload ``src`` as ``oid``; refused (nothing visible) when its bytes do not hash
        to ``oid``, so the lake never holds an object under a wrong address."""
        rel = object_key(oid, area)
        if self.loc.is_local:
            self._put_local(oid, rel, src, size, on_bytes)
            return
        with translated(self.loc, self.display(rel)):
            pending = open_pending(self.loc, rel, job_id=0, size=size, mtime=None)
            try:
                _copy_verified(src, pending.file, oid, size, on_bytes)
                pending.commit()
            except BaseException:
                pending.abort()
                raise

    def _put_local(self, oid: str, rel: str, src: Path, size: int,
                   on_bytes: Callable[[int], None] | None) -> None:
        final = self.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_path(final, 0)
        try:
            with open(tmp, "xb") as out:
                _copy_verified(src, out, oid, size, on_bytes)
            os.chmod(tmp, 0o444)
            # Durability comes from one syncfs before the version document is written.
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get_object(self, oid: str, size: int, out: BinaryIO, area: str = OBJECTS,
                   on_bytes: Callable[[int], None] | None = None) -> None:
        """Write the object's bytes to ``out``; raises ``CorruptData`` when they do not
        hash to ``oid`` (the caller discards what was written)."""
        rel = object_key(oid, area)
        if self.loc.is_local:
            self._get_local(oid, rel, size, out, on_bytes)
            return
        h = hashlib.sha256()
        n = 0
        f = self._open_read(rel, oid, size)
        try:
            while chunk := self._read_chunk(f, rel, oid):
                h.update(chunk)
                out.write(chunk)
                n += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        finally:
            with contextlib.suppress(Exception):
                f.close()
        if n != size or _PREFIX + h.hexdigest() != oid:
            raise CorruptData(f"remote '{self.name}': object {oid} is damaged ({n} bytes, "
                              f"{size} expected)", objects=[oid])

    def _get_local(self, oid: str, rel: str, size: int, out: BinaryIO,
                   on_bytes: Callable[[int], None] | None) -> None:
        try:
            f = open(self.path(rel), "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound("object", f"{oid} in remote '{self.name}'") from None
        with f:
            n, actual = _stream_hashed(f, out, on_bytes)
        if n != size or actual != oid:
            raise CorruptData(f"remote '{self.name}': object {oid} is damaged ({n} bytes, "
                              f"{size} expected)", objects=[oid])

    @contextlib.contextmanager
    def _reading(self, rel: str, oid: str) -> Iterator[None]:
        """Translate failures of a remote read; a missing key becomes ``NotFound``."""
        try:
            with translated(self.loc, self.display(rel)):
                yield
        except FileNotFoundError:
            raise NotFound("object", f"{oid} in remote '{self.name}'") from None
        except MlfabricError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                raise NotFound("object", f"{oid} in remote '{self.name}'") from None
            raise

    def _open_read(self, rel: str, oid: str, size: int) -> Any:
        kwargs: dict[str, Any] = {"block_size": CHUNK, "cache_type": "none"}
        if self.loc.is_object_store:
            kwargs["size"] = size  # saves a HEAD request per object
        with self._reading(rel, oid):
            return self.loc.fs.open(self.path(rel), "rb", **kwargs)

    def _read_chunk(self, f: Any, rel: str, oid: str) -> bytes:
        with self._reading(rel, oid):
            return f.read(CHUNK)

    # -- documents --------------------------------------------------------------------
    def read(self, rel: str) -> bytes | None:
        """A document's bytes, None when it does not exist."""
        if self.loc.is_local:
            try:
                with open(self.path(rel), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise MlfabricError(f"{self.display(rel)}: {exc.strerror}") from exc
        with translated(self.loc, self.display(rel)):
            try:
                return bytes(self.loc.fs.cat_file(self.path(rel)))
            except FileNotFoundError:
                return None

    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Write a whole document; with ``exclusive`` only if it does not exist yet
        (returns False then). Readers see the old document or the whole new one."""
        if self.loc.is_local:
            return self._write_local(rel, data, exclusive)
        path = self.path(rel)
        with translated(self.loc, self.display(rel)):
            if exclusive and not self.loc.is_object_store and self.loc.fs.exists(path):
                return False
            parent = posixpath.dirname(path)
            if not self.loc.is_object_store and parent:
                self.loc.fs.makedirs(parent, exist_ok=True)
            try:
                # S3: PutObject with If-None-Match: * (atomic create).
                self.loc.fs.pipe_file(path, data,
                                      mode="create" if exclusive else "overwrite")
            except FileExistsError:
                return False
        return True

    def _write_local(self, rel: str, data: bytes, exclusive: bool) -> bool:
        final = self.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_path(final, 0)
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if exclusive:
                try:
                    os.link(tmp, final)  # atomic, and never replaces
                except FileExistsError:
                    return False
                except OSError:  # no hard links here: an exclusive create instead
                    try:
                        with open(final, "xb") as f:
                            f.write(data)
                            f.flush()
                            os.fsync(f.fileno())
                    except FileExistsError:
                        return False
            else:
                os.replace(tmp, final)
            fd = os.open(os.path.dirname(final), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, rels: Iterable[str]) -> int:
        """Remove keys (missing ones are fine); returns how many were asked for."""
        keys = list(rels)
        if not keys:
            return 0
        if self.loc.is_local:
            for rel in keys:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(rel))
            return len(keys)
        with translated(self.loc), contextlib.suppress(FileNotFoundError):
            self.loc.fs.rm([self.path(k) for k in keys])
        return len(keys)

    def flush(self) -> None:
        """Make objects written so far durable (local lakes; object stores already are)."""
        if self.loc.is_local and os.path.isdir(self.loc.root or "/"):
            syncfs(Path(self.loc.root or "/"))


_local = threading.local()
_LOCAL_CHUNK = 2**20


def _buffer() -> bytearray:
    """A copy buffer per thread (no allocation per chunk)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(_LOCAL_CHUNK)
    return buf


def _stream_hashed(f: Any, out: Any, on_bytes: Callable[[int], None] | None
                   ) -> tuple[int, str]:
    """Copy ``f`` to ``out`` in chunks; returns the byte count and the id of what passed."""
    h = hashlib.sha256()
    n = 0
    buf = _buffer()
    view = memoryview(buf)
    while k := f.readinto(buf):
        h.update(view[:k])
        out.write(view[:k])
        n += k
        if on_bytes is not None:
            on_bytes(k)
    return n, _PREFIX + h.hexdigest()


def _copy_verified(src: Path, out: Any, oid: str, size: int,
                   on_bytes: Callable[[int], None] | None) -> None:
    try:
        f = open(src, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise CorruptData(f"object {oid} is missing from the local store", objects=[oid]) \
            from None
    with f:
        n, actual = _stream_hashed(f, out, on_bytes)
    if n != size or actual != oid:
        raise CorruptData(f"local data for object {oid} is damaged (run 'mlfabric verify')",
                          objects=[oid])

