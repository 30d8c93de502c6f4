"""Invariants of a home's object store, as ``problems()`` lists that tests switch on
after every step (as the scheduler's ``validate()``): every object a committed snapshot
or a stat index needs is present, read-only and never written since it was stored, and
nothing but objects lives in the store's fan-out folders. Cheap: nothing is hashed
(``verify`` does that)."""

from __future__ import annotations

import os
import stat

from mlfabric.oids import is_oid
from mlfabric.storage.gc import reachable_objects
from mlfabric.storage.objects import OBJECT_MODE
from mlfabric.storage.service import open_storage


def store_problems(*, home: str | None = None) -> list[str]:
    """Every broken invariant of the object store, in words (empty when all hold)."""
    st = open_storage(home)
    found: list[str] = []
    with st.locked():
        needed = reachable_objects(st)
        root = st.objects.root
        if root.exists():
            for fan in os.scandir(root):
                if fan.name in ("tmp", "quarantine") or not fan.is_dir():
                    continue
                for f in os.scandir(fan.path):
                    if len(fan.name) != 2 or not is_oid(f"sha256:{fan.name}{f.name}"):
                        found.append(f"stray file in the object store: {fan.name}/{f.name}")
                        continue
                    s = f.stat(follow_symlinks=False)
                    if stat.S_IMODE(s.st_mode) != OBJECT_MODE or s.st_mtime_ns != 0:
                        found.append(f"object sha256:{fan.name}{f.name} was written after "
                                     "it was stored (mode or mtime changed)")
        for oid in sorted(needed):
            if not st.objects.exists(oid):
                found.append(f"object {oid} is needed by a snapshot or index but missing")
    return found
