"""Where documents come from: a volume snapshot (``VOLUME@SNAPSHOT``) or a dataset version
(``DATASET:VERSION``), read through a short-lived volume made with the public API (a
read-only hard-link clone of the snapshot, or a pull of the version) and deleted after."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from mlfabric import datasets, snapshots, volumes
from mlfabric.progress import NO_PROGRESS, Progress


@dataclass(frozen=True)
class Source:
    """A pinned source: ``kind`` is ``snapshot`` or ``dataset``; ``ref`` names one
    immutable version (``docs@s1``, ``docs:3``); ``snapshot`` is the volume snapshot
    behind it when known (a dataset version records the one it was pushed from)."""

    kind: str
    ref: str
    snapshot: str | None


def resolve(source: str, *, home: str | None = None) -> Source:
    """Pin ``source``: a snapshot must exist; ``DATASET`` alone means its latest version."""
    if "@" in source:
        snap = snapshots.show(source, home=home)
        return Source("snapshot", snap.ref, snap.ref)
    v = datasets.show(source, home=home)
    return Source("dataset", v.ref, v.source)


@contextlib.contextmanager
def materialized(src: Source, *, home: str | None = None,
                 progress: Progress = NO_PROGRESS) -> Iterator[str]:
    """A folder holding the source's files, for as long as the block runs."""
    tmp = f"rag-read-{secrets.token_hex(4)}"
    if src.kind == "snapshot":
        volumes.clone(tmp, src.ref, mode="link", home=home, progress=progress)
    else:
        datasets.pull(src.ref, into=tmp, home=home, progress=progress)
    try:
        yield volumes.path(tmp, home=home)
    finally:
        volumes.delete(tmp, force=True, home=home)


def files(root: str) -> list[str]:
    """Every regular file under ``root``, as sorted relative POSIX paths."""
    out = []
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for n in names:
            full = os.path.join(base, n)
            if os.path.isfile(full) and not os.path.islink(full):
                out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(out)
