"""A lake in a local folder: plain ``os`` calls (no fsspec in the data path), objects
made durable by one ``syncfs`` per push, documents written atomically."""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from mlfabric.datasets.remote.base import (
    OBJECTS,
    OnBytes,
    RemoteLake,
    Stored,
    copy_verified,
    object_key,
    stream_hashed,
)
from mlfabric.durable import atomic_write, fsync_dir, syncfs
from mlfabric.errors import MlfabricError, NotFound
from mlfabric.transfer.listing import temp_path


class FolderLake(RemoteLake):
    """A lake whose location is a local folder."""

    def check(self) -> None:
        from mlfabric.transfer.urls import probe_destination

        probe_destination(self.loc)

    def list(self, prefix: str) -> list[Stored]:
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

    def put_object(self, oid: str, src: Path, size: int, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        final = self.path(object_key(oid, area))
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_path(final, 0)
        try:
            with open(tmp, "xb") as out:
                copy_verified(src, out, oid, size, on_bytes)
            os.chmod(tmp, 0o444)
            # Durability comes from one syncfs before the version document is written.
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get_object(self, oid: str, size: int, out: BinaryIO, area: str = OBJECTS,
                   on_bytes: OnBytes = None) -> None:
        try:
            f = open(self.path(object_key(oid, area)), "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise NotFound("object", f"{oid} in remote '{self.name}'") from None
        with f:
            n, actual = stream_hashed(f, out, on_bytes)
        if n != size or actual != oid:
            raise self.damaged(oid, n, size)

    def read(self, rel: str) -> bytes | None:
        try:
            with open(self.path(rel), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MlfabricError(f"{self.display(rel)}: {exc.strerror}") from exc

    def write(self, rel: str, data: bytes, *, exclusive: bool = False) -> bool:
        final = self.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if not exclusive:
            atomic_write(final, data)
            return True
        tmp = temp_path(final, 0)
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if not _create_exclusive(tmp, final, data):
                return False
            fsync_dir(os.path.dirname(final))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, rels: Iterable[str]) -> int:
        keys = list(rels)
        for rel in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(rel))
        return len(keys)

    def flush(self) -> None:
        if os.path.isdir(self.loc.root or "/"):
            syncfs(self.loc.root or "/")


def _create_exclusive(tmp: str, final: str, data: bytes) -> bool:
    """Put the written ``tmp`` at ``final`` only if nothing is there (never replaces)."""
    try:
        os.link(tmp, final)  # atomic
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here: an exclusive create instead
        try:
            with open(final, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return True
        except FileExistsError:
            return False
