"""Snapshot manifests (path -> kind, object id or link target, mode, size, mtime) and the
pure diff between two of them."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import NamedTuple

from mlfabric.errors import CorruptData
from mlfabric.storage.bulk import paused_gc

FILE, DIR, LINK = "f", "d", "l"
FORMAT_VERSION = 1


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
                doc = json.loads(gzip.decompress(data))
                if doc.get("version") != FORMAT_VERSION:
                    raise ValueError(f"unsupported manifest version {doc.get('version')}")
                make = Entry._make
                return cls({row[0]: make(row) for row in doc["entries"]})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"{name} is unreadable: {exc}") from exc


def encode_rows(rows: list[tuple]) -> bytes:  # type: ignore[type-arg]
    """Serialize entries sorted by path (tuples of Entry's fields); deterministic bytes."""
    body = json.dumps({"version": FORMAT_VERSION, "entries": rows}, separators=(",", ":"))
    # mtime=0 keeps the gzip bytes (and so the object id) a function of the content.
    return gzip.compress(body.encode(), compresslevel=1, mtime=0)


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
