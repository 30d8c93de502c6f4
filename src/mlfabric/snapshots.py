"""Public API for snapshots; mirrors ``mlfabric snapshot ...`` one to one."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.storage", exports={
    "create": "snapshot", "list": "snapshot:list_snapshots", "show": "snapshot",
    "delete": "snapshot", "restore": "restore", "plan_restore": "restore", "diff": "diff",
    "read_file": "read",
    "Snapshot": "records", "Diff": "records", "Restore": "records", "RestorePlan": "records",
})
