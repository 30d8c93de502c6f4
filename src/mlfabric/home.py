"""A home: where mlfabric keeps its state, at the base of every layer.

``open_home()`` resolves the settings (``--home``, ``MLFABRIC_HOME``, ``~/.mlfabric``) and
opens the catalog: that is all most operations need. Services with more state build it
from a ``Home`` when first used: the storage engine (object store, drivers) in
``mlfabric.storage``, cache pools, the scheduler's locks.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from mlfabric.catalog import Catalog, open_catalog
from mlfabric.config import Config, load_config
from mlfabric.errors import MlfabricError


@dataclass(frozen=True)
class Home:
    """The resolved settings and the catalog of one home folder."""

    config: Config
    catalog: Catalog

    @property
    def path(self) -> Path:
        return self.config.home


_homes: dict[Path, Home] = {}
_lock = threading.Lock()
PRIVATE_DIR = 0o700  # the home and its folders: its owner (the platform) only


def private_dir(path: Path) -> Path:
    """Make folder ``path`` (and missing parents) owner-only whatever the umask; a folder
    that is wider is narrowed when it is ours, refused when it is not."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    st = path.stat()
    if st.st_mode & 0o077:
        if st.st_uid != os.geteuid():
            raise MlfabricError(f"'{path}' is readable by other users and belongs to uid "
                                f"{st.st_uid}: make it 0700 or choose another home")
        os.chmod(path, PRIVATE_DIR)
    return path


def open_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The home at ``home`` (default ``$MLFABRIC_HOME`` or ``~/.mlfabric``), created and
    its catalog migrated on first use; one per process and folder."""
    config = load_config(home)
    with _lock:
        found = _homes.get(config.home)
        if found is None or found.config != config:
            private_dir(config.home)  # every project's data and the token hashes live here
            found = _homes[config.home] = Home(config, open_catalog(config.catalog_url))
        return found
