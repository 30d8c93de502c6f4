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


# -- a user's settings (``mlfabric config``): defaults the CLI fills in ---------------------
SETTINGS_ENV, PROJECT_ENV = "MLFABRIC_CONFIG", "MLFABRIC_PROJECT"
SETTINGS = {"project": "the project of commands given no --project (MLFABRIC_PROJECT wins)"}
NO_PROJECT = (f"no project: give --project P, set {PROJECT_ENV}, or run mlfabric config set "
              "project P")


def settings_path() -> Path:
    """``$MLFABRIC_CONFIG``, else ``$XDG_CONFIG_HOME/mlfabric/config.toml`` (default
    ``~/.config``): the user's own, whichever home or server a command uses."""
    if os.environ.get(SETTINGS_ENV):
        return Path(os.environ[SETTINGS_ENV]).expanduser().absolute()
    base = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser().absolute() / "mlfabric" / "config.toml"


def _setting_key(key: str) -> str:
    if key not in SETTINGS:
        raise InvalidInput(f"unknown setting '{key}': known settings are "
                           f"{', '.join(sorted(SETTINGS))}", field="key", value=key)
    return key


def read_settings() -> dict[str, str]:
    """The user's settings (none when the file does not exist)."""
    import tomllib

    path = settings_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read settings file '{path}': {exc}", field="config") \
            from None
    return {k: str(v) for k, v in data.items() if k in SETTINGS}


def _write_settings(values: dict[str, str]) -> None:
    import json

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    # TOML basic strings take JSON's escapes
    tmp.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in sorted(values.items())))
    os.replace(tmp, path)


def set_setting(key: str, value: str) -> dict[str, str]:
    """Save ``key = value``; the settings after."""
    from mlfabric.names import validate_name

    validate_name(value, _setting_key(key))
    values = read_settings() | {key: value}
    _write_settings(values)
    return values


def get_setting(key: str) -> str:
    """The value of ``key``; ``NotFound`` when it is not set."""
    from mlfabric.errors import NotFound

    value = read_settings().get(_setting_key(key))
    if value is None:
        raise NotFound("setting", key)
    return value


def unset_setting(key: str) -> dict[str, str]:
    """Forget ``key``; the settings after."""
    values = read_settings()
    values.pop(_setting_key(key), None)
    _write_settings(values)
    return values


def default_project() -> str | None:
    """``$MLFABRIC_PROJECT``, else the ``project`` setting, else None."""
    return os.environ.get(PROJECT_ENV) or read_settings().get("project")
