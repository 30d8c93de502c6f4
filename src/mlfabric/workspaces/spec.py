"""Checking what a user asks of a workspace, before anything is created or changed."""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
from collections.abc import Sequence

from mlfabric.errors import InvalidInput
from mlfabric.names import MAX_NAME, validate_name

JOB_PREFIX = "ws-"
MAX_WORKSPACE_NAME = MAX_NAME - len(JOB_PREFIX)
# The scheduler has no zero-GPU jobs; half a shared GPU is the example and keeps
# two notebooks on one device.
DEFAULT_GPUS = 0.5
DATASETS_DIR = "datasets"  # cached datasets appear as datasets/<DATASET> in the root
MIN_PASSWORD = 8
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def check_name(name: str) -> str:
    """A workspace name: a DNS-1123 label short enough for its job name ``ws-<name>``."""
    validate_name(name, "workspace name")
    if len(name) > MAX_WORKSPACE_NAME:
        raise InvalidInput(f"invalid workspace name '{name[:20]}...': longer than "
                           f"{MAX_WORKSPACE_NAME} characters (its job is named "
                           f"{JOB_PREFIX}<name>)", field="name", value=name)
    return name


def job_name(workspace: str) -> str:
    """The interactive job that serves ``workspace``."""
    return JOB_PREFIX + workspace


def check_gpus(gpus: str | float | None) -> float:
    """The GPU share: a whole number, or a fraction below 1 (default ``DEFAULT_GPUS``)."""
    if gpus is None:
        return DEFAULT_GPUS
    try:
        value = float(str(gpus).strip()) if not isinstance(gpus, int | float) else float(gpus)
    except ValueError:
        raise InvalidInput(f"invalid GPU count '{gpus}': expected a whole number or a "
                           "fraction below 1 (e.g. 1, 0.5)", field="gpus", value=gpus) from None
    if isinstance(gpus, bool) or not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"invalid GPU count '{gpus}': a workspace runs as a scheduled job "
                           "and the scheduler has no zero-GPU jobs; ask for a share such as "
                           "0.1", field="gpus", value=gpus)
    if value >= 1 and value != int(value):
        raise InvalidInput(f"invalid GPU count '{gpus}': neither a whole number nor a "
                           "fraction below 1", field="gpus", value=gpus)
    return value


def check_host(host: str) -> str:
    """An IP address or host name for JupyterLab to bind."""
    if not isinstance(host, str) or not host.strip():
        raise InvalidInput("invalid host '': give an address such as 127.0.0.1", field="host")
    host = host.strip()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host) or len(host) > 253:
            raise InvalidInput(f"invalid host '{host}': expected an IP address or a host name",
                               field="host", value=host) from None
    return host


def check_port(port: int | None) -> int | None:
    """A TCP port (1-65535), or None for a free one chosen now."""
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"invalid port {port!r}: expected a number from 1 to 65535",
                           field="port", value=port)
    return port


def _mount_path(item: str, volume: str, path: str) -> str:
    rel = path.strip().strip("/") if path else volume
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"invalid mount path in '{item}': use a relative path inside the "
                           "workspace, e.g. data or inputs/raw", field="volume", value=item)
    if any(p.startswith(".") for p in parts):
        raise InvalidInput(f"invalid mount path in '{item}': JupyterLab hides names starting "
                           "with '.'", field="volume", value=item)
    if parts[0] == DATASETS_DIR:
        raise InvalidInput(f"invalid mount path in '{item}': '{DATASETS_DIR}/' is where "
                           "cached datasets appear", field="volume", value=item)
    return rel


def check_volumes(items: Sequence[str], own_volume: str) -> list[str]:
    """Extra volumes ``VOL[:PATH]`` as ``VOL:PATH`` (PATH relative to the Jupyter root,
    default the volume's name); names and paths checked, existence is the caller's."""
    if isinstance(items, str):
        items = [items]
    out: list[str] = []
    paths: list[str] = []
    for item in items:
        volume, _, path = str(item).partition(":")
        validate_name(volume, "volume name")
        if volume == own_volume:
            raise InvalidInput(f"volume '{volume}' is the workspace's own volume, which is "
                               "its root folder already", field="volume", value=item)
        if any(o.partition(":")[0] == volume for o in out):
            raise InvalidInput(f"volume '{volume}' is given twice", field="volume", value=item)
        rel = _mount_path(str(item), volume, path)
        for other in paths:
            if rel == other or rel.startswith(other + "/") or other.startswith(rel + "/"):
                raise InvalidInput(f"mount path '{rel}' overlaps '{other}'", field="volume",
                                   value=item)
        paths.append(rel)
        out.append(f"{volume}:{rel}")
    return out


def check_datasets(items: Sequence[str]) -> list[str]:
    """Cached datasets ``DATASET:VERSION``, one version per dataset."""
    if isinstance(items, str):
        items = [items]
    out: list[str] = []
    for item in items:
        dataset, sep, version = str(item).partition(":")
        validate_name(dataset, "dataset name")
        if not sep or not version:
            raise InvalidInput(f"invalid dataset reference '{item}': expected DATASET:VERSION "
                               "(e.g. images:v3)", field="dataset", value=item)
        if any(o.partition(":")[0] == dataset for o in out):
            raise InvalidInput(f"dataset '{dataset}' is given twice (one version per "
                               "workspace)", field="dataset", value=item)
        out.append(f"{dataset}:{version}")
    return out


def check_password(password: str | None) -> tuple[str, bool]:
    """(password, generated): the given one if long enough, else a new random one."""
    if password is None:
        return secrets.token_urlsafe(12), True
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password too short: use at least {MIN_PASSWORD} characters",
                           field="password")
    if "\n" in password or "\r" in password:
        raise InvalidInput("password must be one line", field="password")
    return password, False


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``WS`` or ``WS@SNAPSHOT`` as (workspace, snapshot or None)."""
    workspace, sep, snapshot = str(ref).partition("@")
    if "@" in snapshot or (sep and not snapshot):
        raise InvalidInput(f"malformed reference '{ref}': expected WORKSPACE@SNAPSHOT",
                           field="ref", value=ref)
    check_name(workspace)
    if sep:
        validate_name(snapshot, "snapshot name")
    return workspace, snapshot if sep else None
