"""Storage drivers, looked up by name as fsspec's registry does: ``local`` (any POSIX file
system) and ``btrfs`` (subvolumes and O(1) snapshots)."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.storage.drivers.base import StorageDriver

REGISTRY = {
    "local": "mlfabric.storage.drivers.local:LocalDriver",
    "btrfs": "mlfabric.storage.drivers.btrfs:BtrfsDriver",
}
_instances: dict[str, StorageDriver] = {}


def get_driver(name: str) -> StorageDriver:
    if name not in REGISTRY:
        raise InvalidInput(f"unknown storage driver '{name}' (known: {', '.join(REGISTRY)})",
                           field="driver", value=name)
    if name not in _instances:
        module, cls = REGISTRY[name].split(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]


def choose_driver(requested: str, volumes_dir: Path) -> str:
    """``auto`` picks btrfs when the volumes root is on btrfs and the tools are installed."""
    from mlfabric.storage.fsops import filesystem_type

    on_btrfs = filesystem_type(volumes_dir) == "btrfs"
    if requested == "btrfs":
        if not on_btrfs:
            raise MlfabricError(f"storage driver btrfs: '{volumes_dir}' is not on a btrfs "
                                "file system")
        if shutil.which("btrfs") is None:
            raise MlfabricError("storage driver btrfs: the 'btrfs' command is missing "
                                "(install btrfs-progs)")
        return "btrfs"
    if requested == "local":
        return "local"
    return "btrfs" if on_btrfs and shutil.which("btrfs") else "local"


__all__ = ["REGISTRY", "StorageDriver", "choose_driver", "get_driver"]
