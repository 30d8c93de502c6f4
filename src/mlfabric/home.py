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


def open_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The home at ``home`` (default ``$MLFABRIC_HOME`` or ``~/.mlfabric``), created and
    its catalog migrated on first use; one per process and folder."""
    config = load_config(home)
    with _lock:
        found = _homes.get(config.home)
        if found is None or found.config != config:
            config.home.mkdir(parents=True, exist_ok=True)
            found = _homes[config.home] = Home(config, open_catalog(config.catalog_url))
        return found
