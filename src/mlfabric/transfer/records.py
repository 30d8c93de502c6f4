"""What transfer operations return (plain dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfabric.errors import MlfabricError
from mlfabric.records import Record


@dataclass(frozen=True)
class SizeBucket(Record):
    """Files whose size is below ``below`` bytes (None: the open-ended last bucket)."""

    label: str
    below: int | None
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class ScanResult(Record):
    url: str
    files: int
    bytes: int
    histogram: list[SizeBucket]
    largest: list[dict[str, Any]]  # [{path, size}], biggest first
    elapsed_s: float


@dataclass(frozen=True)
class FileError(Record):
    path: str
    phase: str  # list, hash, copy, delete
    message: str


@dataclass(frozen=True)
class TransferResult(Record):
    """The summary of one ``copy`` or ``sync`` run (or its plan, with ``dry_run``)."""

    kind: str
    src: str
    dst: str
    dry_run: bool
    job_id: int | None
    resumed_from: list[int]  # interrupted runs of this pair this one took over from
    files: int  # source files
    bytes: int
    copied: int
    copied_bytes: int
    skipped: int
    deleted: int
    to_delete: int
    delete_skipped: bool  # deletes were planned but copy errors cancelled them
    errors: list[FileError]
    reasons: dict[str, int]
    elapsed_s: float
    plan: list[dict[str, Any]] = field(default_factory=list)  # steps, with dry_run only
    temps_removed: int = 0
    actions: dict[str, dict[str, int]] = field(default_factory=dict)  # files, bytes each

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bytes_per_s(self) -> float:
        return self.copied_bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["ok"] = self.ok
        out["bytes_per_s"] = round(self.bytes_per_s, 1)
        return out

    def check(self) -> TransferResult:
        """Raise ``TransferFailed`` when any file failed; else return self."""
        if self.errors:
            raise TransferFailed(self)
        return self


@dataclass(frozen=True)
class Mismatch(Record):
    path: str
    reason: str  # missing, size differs, content differs, error: ...


@dataclass(frozen=True)
class VerifyResult(Record):
    src: str
    dst: str
    mode: str  # size, checksum, bytes
    files: int
    bytes: int
    mismatches: list[Mismatch]
    extra: list[str]  # destination files the source does not have
    elapsed_s: float
    one_way: bool = False  # extra files do not count as differences

    @property
    def differences(self) -> int:
        return len(self.mismatches) + (0 if self.one_way else len(self.extra))

    @property
    def ok(self) -> bool:
        return self.differences == 0

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["ok"] = self.ok
        return out


class TransferFailed(MlfabricError, OSError):
    """Some files of a transfer failed; ``result`` holds the summary and every error."""

    def __init__(self, result: TransferResult) -> None:
        n = len(result.errors)
        first = result.errors[0]
        more = f" (and {n - 1} more)" if n > 1 else ""
        tail = "; delete phase skipped" if result.delete_skipped else ""
        super().__init__(f"{result.kind} failed for {n} file(s){tail}: "
                         f"{first.message}{more}")
        self.result = result
