"""A lake on any fsspec file system (``s3://``, ``memory://`` ...): multipart or
whole-object uploads that become visible only when complete, ranged reads verified as
they stream, exclusive version documents (S3 ``If-None-Match: *``)."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mlfabric import oids
from mlfabric.datasets.remote.base import (
    OBJECTS,
    OnBytes,
    RemoteLake,
    Stored,
    copy_verified,
    object_key,
)
from mlfabric.errors import MlfabricError, NotFound
from mlfabric.transfer.listing import mtime_of
from mlfabric.transfer.urls import probe_destination, translated
from mlfabric.transfer.writers import open_pending


class FsspecLake(RemoteLake):
    """A lake on the fsspec file system of its location."""

    def check(self) -> None:
        probe_destination(self.loc)

    def list(self, prefix: str) -> list[Stored]:
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

    def put_object(self, oid: str, src: Path, size: int, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        rel = object_key(oid, area)
        with translated(self.loc, self.display(rel)):
            pending = open_pending(self.loc, rel, job_id=0, size=size, mtime=None)
            try:
                copy_verified(src, pending.file, oid, size, on_bytes)
                pending.commit()
            except BaseException:
                pending.abort()
                raise

    def get_object(self, oid: str, size: int, out: BinaryIO, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        rel = object_key(oid, area)
        h = oids.Hasher()
        f = self._open_read(rel, oid, size)
        try:
            while chunk := self._read_chunk(f, rel, oid):
                h.update(chunk)
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        finally:
            with contextlib.suppress(Exception):
                f.close()
        if h.size != size or h.oid != oid:
            raise self.damaged(oid, h.size, size)

    @contextlib.contextmanager
    def _reading(self, rel: str, oid: str) -> Iterator[None]:
        """Translate failures of a read; a missing key becomes ``NotFound``."""
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
        kwargs: dict[str, Any] = {"block_size": oids.CHUNK * 4, "cache_type": "none"}
        if self.loc.is_object_store:
            kwargs["size"] = size  # saves a HEAD request per object
        with self._reading(rel, oid):
            return self.loc.fs.open(self.path(rel), "rb", **kwargs)

    def _read_chunk(self, f: Any, rel: str, oid: str) -> bytes:
        with self._reading(rel, oid):
            return f.read(oids.CHUNK * 4)

    def read(self, rel: str) -> bytes | None:
        with translated(self.loc, self.display(rel)):
            try:
                return bytes(self.loc.fs.cat_file(self.path(rel)))
            except FileNotFoundError:
                return None

    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> bool:
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

    def delete(self, rels: Iterable[str]) -> int:
        keys = list(rels)
        if keys:
            with translated(self.loc), contextlib.suppress(FileNotFoundError):
                self.loc.fs.rm([self.path(k) for k in keys])
        return len(keys)
