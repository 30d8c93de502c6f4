"""Snapshot manifests (path -> kind, object id or link target, mode, size, mtime) and the
pure diff between two of them.

Format 2 (written): the line ``mlfabric-manifest 2`` then, per entry sorted by path, the
fields kind, ref, mode (octal), size, mtime_ns, path, each ended by a NUL byte (the one
byte no path or link target can hold); text is UTF-8 with surrogate escapes, so any file
name round-trips. About 120 bytes per file, built and parsed several times faster than
format 1 (gzip-compressed JSON), which is still read.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from mlfabric.errors import CorruptData
from mlfabric.storage.bulk import paused_gc

FILE, DIR, LINK = "f", "d", "l"
FORMAT_VERSION = 2
HEADER = b"mlfabric-manifest 2\n"
_GZIP_MAGIC = b"\x1f\x8b"


class Entry(NamedTuple):
    """One path of a tree. ``ref`` is the object id (file) or the link target (symlink)."""

    path: str
    kind: str
    ref: str
    mode: int
    size: int
    mtime_ns: int


@dataclass
class Manifest:
    """All entries of a tree keyed by POSIX relative path."""

    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[Entry]) -> Manifest:
        return cls({e.path: e for e in entries})

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == FILE]

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values() if e.kind == FILE)

    def object_ids(self) -> set[str]:
        return {e.ref for e in self.entries.values() if e.kind == FILE}

    def to_bytes(self) -> bytes:
        return encode_rows([self.entries[p] for p in sorted(self.entries)])

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "manifest") -> Manifest:
        try:
            with paused_gc():
                if data.startswith(_GZIP_MAGIC):
                    return cls._from_v1(data)
                if not data.startswith(HEADER):
                    raise ValueError("not a manifest (unknown header)")
                fields = data[len(HEADER):].decode("utf-8", "surrogateescape").split("\0")
                if fields.pop() != "" or len(fields) % 6:
                    raise ValueError("truncated")
                rows = zip(*[iter(fields)] * 6, strict=True)
                return cls({path: Entry(path, kind, ref, int(mode, 8), int(size), int(mtime))
                            for kind, ref, mode, size, mtime, path in rows})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"{name} is unreadable: {exc}") from exc

    @classmethod
    def _from_v1(cls, data: bytes) -> Manifest:
        doc = json.loads(gzip.decompress(data))
        if doc.get("version") != 1:
            raise ValueError(f"unsupported manifest version {doc.get('version')}")
        make = Entry._make
        return cls({row[0]: make(row) for row in doc["entries"]})


def encode_rows(rows: Iterable[tuple]) -> bytes:  # type: ignore[type-arg]
    """Serialize entries sorted by path (tuples of Entry's fields); deterministic bytes."""
    return HEADER + b"".join(encode_lines(rows))


def encode_lines(rows: Iterable[tuple]) -> list[bytes]:  # type: ignore[type-arg]
    """``encode_rows`` one entry at a time: ``HEADER + b"".join(lines)`` is the manifest."""
    return [f"{kind}\0{ref}\0{mode:o}\0{size}\0{mtime}\0{path}\0".encode(
        "utf-8", "surrogateescape") for path, kind, ref, mode, size, mtime in rows]


def manifest_body(data: bytes) -> bytes | None:
    """The entry lines of a format-2 manifest (None for another format)."""
    return data[len(HEADER):] if data.startswith(HEADER) else None



@dataclass
class ManifestDiff:
    """Paths (files and symlinks) that differ between two trees."""

    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    mode_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.deleted or self.modified or self.mode_changed)


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """What changed from ``old`` to ``new``. Directories are structure, not content, and are
    left out; a file whose content changed is ``modified`` even if its mode changed too."""
    result = ManifestDiff()
    for path in sorted(set(old.entries) | set(new.entries)):
        a, b = old.entries.get(path), new.entries.get(path)
        if (a is None or a.kind == DIR) and (b is None or b.kind == DIR):
            continue
        if a is None or a.kind == DIR:
            result.added.append(path)
        elif b is None or b.kind == DIR:
            result.deleted.append(path)
        elif a.kind != b.kind or a.ref != b.ref:
            result.modified.append(path)
        elif (a.mode & 0o7777) != (b.mode & 0o7777) and a.kind != LINK:
            result.mode_changed.append(path)
    return result
