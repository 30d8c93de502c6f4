"""Content-addressed object store: ``objects/ab/cdef...``, id ``sha256:<hex>``.

Objects are written to a temp name, fsynced, made read-only and renamed into place.
Every object's mtime is set to 0: objects are never legitimately rewritten, so a
non-zero mtime is a cheap sign that someone wrote through a hard link (root ignores
the read-only bit). ``verify`` re-hashes for the thorough check.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

from mlfabric.durable import fsync_dir, syncfs, write_all
from mlfabric.errors import CorruptData
from mlfabric.oids import CHUNK, PREFIX, hash_file, hex_of, new_hash, oid_of, oid_of_hash
from mlfabric.storage.fsops import try_reflink

OBJECT_MODE = 0o444
_TMP_SEQ = itertools.count()


class ObjectStore:
    """A directory of immutable, content-addressed files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self.tmp = root / "tmp"
        self.quarantine_dir = root / "quarantine"
        # Source device -> whether reflinks work from it into the store (learned once).
        self._reflinks: dict[int, bool] = {}

    def ensure(self) -> None:
        # Owner-only whatever the umask: objects are every volume's content.
        for d in (self.root, self.tmp, self.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, oid: str) -> Path:
        h = hex_of(oid)
        return self.root / h[:2] / h[2:]

    def path_str(self, oid: str) -> str:
        """``path()`` as a string, for loops over many objects (pathlib costs ~5 us a call)."""
        if len(oid) != 71 or not oid.startswith(PREFIX):
            hex_of(oid)  # raises the clear error
        return f"{self._root}/{oid[7:9]}/{oid[9:]}"

    def exists(self, oid: str) -> bool:
        return self.path(oid).exists()

    def _tmp_file(self) -> tuple[int, str]:
        """A new temp file in the store's tmp area (created on first use or if removed)."""
        name = f"{self._root}/tmp/{os.getpid()}-{next(_TMP_SEQ)}-{os.urandom(4).hex()}"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            self.ensure()
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return fd, name

    def _seal(self, fd: int, durable: bool) -> None:
        """Make a finished temp file an object: read-only, mtime 0 (see the module doc)."""
        os.fchmod(fd, OBJECT_MODE)
        os.utime(fd, ns=(0, 0))
        if durable:
            os.fsync(fd)

    def _commit(self, tmp: str, oid: str, size: int, durable: bool) -> None:
        """Move a sealed temp file into place (or drop it if the object already exists)."""
        fan = f"{self._root}/{oid[7:9]}"
        dest = f"{fan}/{oid[9:]}"
        try:
            existing = os.stat(dest).st_size
        except FileNotFoundError:
            existing = None
        if existing == size:
            os.unlink(tmp)
            return
        # A wrong-sized object can only be the torn write of a power loss before a batch
        # was synced: replace it with the good bytes.
        try:
            os.rename(tmp, dest)
        except FileNotFoundError:
            os.makedirs(fan, exist_ok=True)
            os.rename(tmp, dest)
        if durable:
            fsync_dir(Path(fan))

    def sync(self) -> None:
        """Make every object written with ``durable=False`` durable (one ``syncfs``)."""
        syncfs(self.root)

    def put_bytes(self, data: bytes) -> str:
        oid = oid_of(data)
        if self.exists(oid):
            return oid
        fd, tmp = self._tmp_file()
        try:
            write_all(fd, data)
            self._seal(fd, durable=True)
        finally:
            os.close(fd)
        self._commit(tmp, oid, len(data), durable=True)
        return oid

    def put_file(self, src: Path | str, *, durable: bool = True) -> tuple[str, int]:
        """Store a file's content; returns (oid, size). Reflinks then hashes the clone where
        possible (the stored bytes are exactly what was hashed), else copies while hashing.
        ``durable=False`` skips the per-file fsync: the caller must ``sync()`` before it
        commits anything that refers to the object. Runs per changed file of a snapshot,
        so the path is lean: strings, not ``Path``; one read for a small file."""
        fd, tmp = self._tmp_file()
        try:
            with open(src, "rb", buffering=0) as fsrc:
                h = new_hash()
                size = 0
                sst = os.fstat(fsrc.fileno())
                # A read as large as the file (+1 to see its end): one call for small files.
                step = min(sst.st_size + 1, CHUNK)
                if self._reflinks.get(sst.st_dev, True) and try_reflink(fsrc.fileno(), fd):
                    with open(tmp, "rb", buffering=0) as fclone:
                        while chunk := fclone.read(step):
                            h.update(chunk)
                            size += len(chunk)
                else:
                    self._reflinks[sst.st_dev] = False
                    while chunk := fsrc.read(step):
                        h.update(chunk)
                        write_all(fd, chunk)
                        size += len(chunk)
                self._seal(fd, durable)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(fd)
        oid = oid_of_hash(h)
        self._commit(tmp, oid, size, durable)
        return oid, size

    def read_bytes(self, oid: str) -> bytes:
        data = self.path(oid).read_bytes()
        if oid_of(data) != oid:
            raise CorruptData(f"object {oid} is damaged", objects=[oid])
        return data

    def hash_file(self, oid: str) -> str | None:
        """The actual content hash of a stored object, None if it is missing."""
        try:
            return hash_file(self.path(oid))
        except FileNotFoundError:
            return None

    def looks_intact(self, oid: str, size: int) -> bool:
        """Cheap check (no read): present, expected size, never written since stored."""
        try:
            st = os.stat(self.path_str(oid))
        except FileNotFoundError:
            return False
        return st.st_size == size and st.st_mtime_ns == 0

    def quarantine(self, oid: str) -> Path | None:
        """Move a damaged object aside so it is never served again."""
        src = self.path(oid)
        self.ensure()
        dest = self.quarantine_dir / f"{hex_of(oid)}.{time.time_ns()}"
        try:
            os.rename(src, dest)
        except FileNotFoundError:
            return None
        return dest

    def delete(self, oid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(oid).unlink()

    def iter_objects(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every stored object with its stat (temp and quarantine areas excluded)."""
        if not self.root.exists():
            return
        for d in os.scandir(self.root):
            if len(d.name) != 2 or not d.is_dir(follow_symlinks=False):
                continue
            for f in os.scandir(d.path):
                if len(f.name) == 62:
                    yield PREFIX + d.name + f.name, f.stat(follow_symlinks=False)
