"""``snapshots.read_file``: one file of a snapshot as it was taken, without restoring or
cloning it (a job's metrics, a dataset's description)."""

from __future__ import annotations

from mlfabric.errors import MlfabricError, NotFound
from mlfabric.names import parse_snapshot_ref
from mlfabric.storage.diff import manifest_of
from mlfabric.storage.manifest import FILE
from mlfabric.storage.service import open_storage


def read_file(ref: str, path: str, *, home: str | None = None) -> bytes:
    """The bytes of ``path`` (relative to the volume) in the snapshot ``VOLUME@SNAP``."""
    r = parse_snapshot_ref(ref, require_snapshot=True)
    st = open_storage(home)
    with st.locked(r.volume):
        entry = manifest_of(st, r).entries.get(path.strip("/"))
        if entry is None or entry.kind != FILE:
            raise NotFound("file", f"{r}:{path}")
        try:
            return st.objects.read_bytes(entry.ref)
        except FileNotFoundError as exc:
            raise MlfabricError(f"{r}:{path}: its content is not in the object store") from exc
