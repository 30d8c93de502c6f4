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
from mlfabric.errors import InvalidInput, MlfabricError, NotFound


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


def is_home(path: Path) -> bool:
    """Whether ``path`` holds a home: its catalog, or only what any home may start as (an
    empty folder; any folder when the catalog lives elsewhere, ``MLFABRIC_CATALOG_URL``)."""
    if not path.is_dir():
        return False
    if (path / "catalog.db").exists() or os.environ.get("MLFABRIC_CATALOG_URL"):
        return True
    return next(path.iterdir(), None) is None


def require_home(home: str | os.PathLike[str]) -> Path:
    """The home a user named (``--home DIR``), refused unless it is one: a mistyped
    folder must not become a new, empty home (``mlfabric init`` makes one)."""
    path = load_config(home).home
    if not path.exists():
        missing = NotFound("home", str(path))
        missing.message += f": make it with mlfabric --home {path} init, or check the spelling"
        raise missing
    if not is_home(path):
        raise InvalidInput(f"'{path}' is not an mlfabric home (it has files but no "
                           "catalog.db)", field="home", value=str(path))
    return path


def init_home(home: str | os.PathLike[str] | None = None) -> tuple[Home, bool]:
    """Make a home (or open the one there): the home, and whether it was new."""
    path = load_config(home).home
    new = not path.exists() or next(path.iterdir(), None) is None
    if path.exists() and not is_home(path):
        raise InvalidInput(f"'{path}' is not empty and not an mlfabric home: choose an "
                           "empty or new folder", field="home", value=str(path))
    return open_home(home), new
