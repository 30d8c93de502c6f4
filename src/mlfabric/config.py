"""Where mlfabric keeps its state, from flags and environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import InvalidInput

# The platform server the CLI talks to instead of the local home (client mode).
SERVER_ENV, TOKEN_ENV = "MLFABRIC_SERVER", "MLFABRIC_TOKEN"
_DRIVER_NAME = re.compile(r"^[a-z0-9][-a-z0-9_]*$")


@dataclass(frozen=True)
class Config:
    """Resolved settings (``MLFABRIC_HOME``, ``_CATALOG_URL``, ``_STORAGE_DRIVER``)."""

    home: Path
    catalog_url: str
    storage_driver: str = "auto"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def volumes_dir(self) -> Path:
        return self.home / "volumes"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space on the volumes' file system (renames from here are atomic)."""
        return self.volumes_dir / ".tmp"


def load_config(home: str | os.PathLike[str] | None = None) -> Config:
    """Resolve settings: explicit ``home`` beats ``MLFABRIC_HOME`` beats ``~/.mlfabric``."""
    raw_home = home or os.environ.get("MLFABRIC_HOME") or "~/.mlfabric"
    home_path = Path(raw_home).expanduser().absolute()
    if home_path.exists() and not home_path.is_dir():
        raise InvalidInput(f"home '{home_path}' exists and is not a directory", field="home")
    url = os.environ.get("MLFABRIC_CATALOG_URL") or f"sqlite:///{home_path / 'catalog.db'}"
    driver = os.environ.get("MLFABRIC_STORAGE_DRIVER", "auto").strip().lower() or "auto"
    # Which names exist is the driver registry's to say, when a volume is made.
    if not _DRIVER_NAME.match(driver):
        raise InvalidInput(f"invalid MLFABRIC_STORAGE_DRIVER '{driver}': expected auto or a "
                           "storage driver's name (local, btrfs)", field="storage_driver")
    return Config(home=home_path, catalog_url=url, storage_driver=driver)
