"""Names (DNS-1123 labels) and references (``VOLUME@SNAPSHOT``, ``DATASET:VERSION``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlfabric.errors import InvalidInput

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63
LATEST = "latest"
VERSION = re.compile(r"^v([1-9][0-9]{0,8})$")  # v1, v2, ... per dataset


def validate_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is a lowercase DNS-1123 label, else raise ``InvalidInput``."""
    if not isinstance(name, str) or name == "":
        raise InvalidInput(f"invalid {kind} '': must not be empty", field=kind, value=name)
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"invalid {kind} '{name[:20]}...': longer than {MAX_NAME} characters",
            field=kind, value=name)
    if not _LABEL.match(name):
        raise InvalidInput(
            f"invalid {kind} '{name}': use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit", field=kind, value=name)
    return name


def check_text(value: str, field: str) -> str:
    """Return ``value`` if the operating system can take it as a path, an argument or an
    environment variable (it has no NUL character), else raise ``InvalidInput``."""
    if "\0" in value:
        raise InvalidInput(f"invalid {field} {value!r}: contains a NUL character",
                           field=field, value=value)
    return value


@dataclass(frozen=True)
class SnapshotRef:
    """``VOLUME@SNAPSHOT``; ``snapshot`` is None for the live volume."""

    volume: str
    snapshot: str | None = None

    def __str__(self) -> str:
        return self.volume if self.snapshot is None else f"{self.volume}@{self.snapshot}"


def parse_snapshot_ref(text: str, *, require_snapshot: bool = False) -> SnapshotRef:
    """Parse ``VOLUME`` or ``VOLUME@SNAPSHOT``."""
    if text.count("@") > 1:
        raise InvalidInput(f"malformed reference '{text}': expected VOLUME@SNAPSHOT",
                           field="ref", value=text)
    volume, sep, snap = text.partition("@")
    if sep and not snap:
        raise InvalidInput(f"malformed reference '{text}': snapshot name missing after '@'",
                           field="ref", value=text)
    if require_snapshot and not sep:
        raise InvalidInput(f"malformed reference '{text}': expected VOLUME@SNAPSHOT",
                           field="ref", value=text)
    validate_name(volume, "volume name")
    if sep:
        validate_name(snap, "snapshot name")
    return SnapshotRef(volume, snap if sep else None)


@dataclass(frozen=True)
class VersionRef:
    """``DATASET:VERSION``; ``version`` None means the latest."""

    dataset: str
    version: str | None = None

    def __str__(self) -> str:
        return self.dataset if self.version is None else f"{self.dataset}:{self.version}"


def parse_version_ref(text: str, *, require_version: bool = False) -> VersionRef:
    """Parse ``DATASET``, ``DATASET:latest`` or ``DATASET:vN``."""
    if not isinstance(text, str) or text.count(":") > 1:
        raise InvalidInput(f"malformed reference '{text}': expected DATASET:VERSION",
                           field="ref", value=text)
    name, sep, version = text.partition(":")
    if sep and not version:
        raise InvalidInput(f"malformed reference '{text}': version missing after ':'",
                           field="ref", value=text)
    if require_version and (not sep or version == LATEST):
        raise InvalidInput(f"malformed reference '{text}': expected DATASET:VERSION "
                           "(e.g. images:v3)", field="ref", value=text)
    validate_name(name, "dataset name")
    if not sep or version == LATEST:
        return VersionRef(name)
    if not VERSION.match(version):
        raise InvalidInput(f"invalid version '{version}': expected v1, v2, ... or latest",
                           field="version", value=version)
    return VersionRef(name, version)


def version_number(version: str) -> int:
    m = VERSION.match(version)
    if m is None:
        raise InvalidInput(f"invalid version '{version}'", field="version", value=version)
    return int(m.group(1))


def parse_labels(items: list[str] | None) -> dict[str, str]:
    """Parse ``k=v`` labels; keys follow the name rule, values are free text."""
    labels: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"invalid label '{item}': expected key=value", field="label")
        validate_name(key, "label key")
        labels[key] = value
    return labels
