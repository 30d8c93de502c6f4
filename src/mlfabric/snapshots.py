"""Public API for snapshots; mirrors ``mlfabric snapshot ...`` one to one."""

from mlfabric.storage.diff import diff
from mlfabric.storage.records import Diff, Restore, Snapshot
from mlfabric.storage.restore import restore
from mlfabric.storage.snapshot import create, delete, show
from mlfabric.storage.snapshot import list_snapshots as list

__all__ = ["Diff", "Restore", "Snapshot", "create", "delete", "diff", "list", "restore", "show"]
