"""Storage drivers by name, in the shared registry shape (``mlfabric.registry``):
``local`` (any POSIX file system) and ``btrfs`` (subvolumes and O(1) snapshots). A new
driver registers with ``DRIVERS.register(name, "module:Class")`` and proves itself with
``mlfabric.testing.drivers.DriverConformance``."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlfabric.config import Config
from mlfabric.errors import MlfabricError
from mlfabric.registry import Registry
from mlfabric.storage.drivers.base import RestoreData, SnapshotData, StorageDriver

DRIVERS: Registry[StorageDriver] = Registry("storage driver", {
    "local": "mlfabric.storage.drivers.local:LocalDriver",
    "btrfs": "mlfabric.storage.drivers.btrfs:BtrfsDriver",
}, field="driver")


def driver_of(name: str) -> StorageDriver:
    """The driver called ``name`` (volumes record the driver they were made with)."""
    return DRIVERS.get(name)


def choose_driver(requested: str, volumes_dir: Path) -> str:
    """``auto`` picks btrfs when the volumes root is on btrfs and the tools are installed;
    any other registered name is taken as asked."""
    from mlfabric.storage.fsops import filesystem_type

    if requested not in ("auto", "btrfs"):
        return DRIVERS.check(requested)
    on_btrfs = filesystem_type(volumes_dir) == "btrfs"
    if requested == "btrfs":
        if not on_btrfs:
            raise MlfabricError(f"storage driver btrfs: '{volumes_dir}' is not on a btrfs "
                                "file system")
        if shutil.which("btrfs") is None:
            raise MlfabricError("storage driver btrfs: the 'btrfs' command is missing "
                                "(install btrfs-progs)")
        return "btrfs"
    return "btrfs" if on_btrfs and shutil.which("btrfs") else "local"


def default_driver(config: Config) -> str:
    """The driver new volumes of a home get (``MLFABRIC_STORAGE_DRIVER``, or ``auto``)."""
    return choose_driver(config.storage_driver, config.volumes_dir)


__all__ = ["DRIVERS", "RestoreData", "SnapshotData", "StorageDriver", "choose_driver",
           "default_driver", "driver_of"]
