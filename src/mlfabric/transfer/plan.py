"""Sync planning: given two listings (and the journal), what to copy, skip and delete.

Pure: no I/O, no clock. The executor lists, hashes when asked, then applies the plan.

Size and mtime are compared this way (``compare="size-mtime"``):

1. A size difference always means copy.
2. The journal knows what the last transfer of this pair wrote. When the destination is
   still exactly that (size and token: ETag, or mtime) the decision rests on the source
   alone: unchanged since that transfer means skip, changed means copy.
3. Otherwise the destination's mtime decides. Where the destination keeps the source's
   mtime (local folders: it is set on every file written) they must be equal. Where it
   cannot (object stores: ``LastModified`` is the upload time) the copy is current when
   it was uploaded at or after the source's last change, which is the rule of
   ``aws s3 sync``. Upload times come truncated to the second, so "at or after" is
   judged at that precision: a change within the second of an upload goes unseen
   without the journal or ``--checksum``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

Compare = Literal["all", "size-mtime", "checksum"]
MtimeKind = Literal["exact", "upload"]
Action = Literal["copy", "skip", "delete"]
ACTIONS: tuple[Action, ...] = ("copy", "skip", "delete")

# Two mtimes closer than this are equal (covers float rounding of nanosecond stamps).
MTIME_WINDOW = 0.001
# Object stores report upload times to the second (S3 LastModified, truncated).
UPLOAD_PRECISION = 1.0

NEW = "new"
COPY_ALL = "copy"
SIZE_DIFFERS = "size differs"
SOURCE_CHANGED = "source changed since last transfer"
MTIME_DIFFERS = "mtime differs"
SOURCE_NEWER = "source newer than destination"
MTIME_UNKNOWN = "mtime unknown"
CONTENT_DIFFERS = "content differs"
CHECKSUM_UNKNOWN = "checksum unavailable"
SAME_JOURNAL = "unchanged (journal)"
SAME_MTIME = "unchanged (size and mtime)"
SAME_CHECKSUM = "unchanged (checksum)"
NOT_IN_SOURCE = "not in source"


@dataclass(slots=True)  # not frozen: listings make one per file, and frozen costs 3x
class Entry:
    """One file of a listing; ``path`` is relative to the listed root."""

    path: str
    size: int
    mtime: float | None = None
    token: str | None = None  # what identifies this exact version: ETag or mtime
    checksum: str | None = None
    mtime_ns: int | None = None  # exact, where the listing knows it (local folders)


@dataclass(frozen=True)
class JournalRecord:
    """What a finished copy saw at the source and left at the destination."""

    path: str
    src_size: int
    src_mtime: float | None
    dst_size: int
    dst_token: str | None
    checksum: str | None = None


class Step(NamedTuple):  # a tuple: a plan of millions of files makes one per file
    action: Action
    path: str
    size: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"action": self.action, "path": self.path, "size": self.size,
                "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]

    def _of(self, action: Action) -> list[Step]:
        return [s for s in self.steps if s.action == action]

    @property
    def copies(self) -> list[Step]:
        return self._of("copy")

    @property
    def skips(self) -> list[Step]:
        return self._of("skip")

    @property
    def deletes(self) -> list[Step]:
        return self._of("delete")

    @property
    def bytes_to_copy(self) -> int:
        return sum(s.size for s in self.copies)

    def reasons(self) -> dict[str, int]:
        """How many steps each reason accounts for."""
        return dict(sorted(Counter(s.reason for s in self.steps).items()))

    def actions(self) -> dict[str, dict[str, int]]:
        """Files and bytes per action (``copy``, ``skip``, ``delete``): the plan in short."""
        out = {a: {"files": 0, "bytes": 0} for a in ACTIONS}
        for s in self.steps:
            out[s.action]["files"] += 1
            out[s.action]["bytes"] += s.size
        return out


def _same_mtime(a: float | None, b: float | None, window: float) -> bool:
    return a is not None and b is not None and abs(a - b) < window


def _decide_by_mtime(s: Entry, d: Entry, record: JournalRecord | None,
                     dst_mtime: MtimeKind, window: float) -> tuple[Action, str]:
    if record is not None and record.dst_size == d.size and record.dst_token is not None \
            and record.dst_token == d.token:
        if record.src_size == s.size and _same_mtime(record.src_mtime, s.mtime, window):
            return "skip", SAME_JOURNAL
        return "copy", SOURCE_CHANGED
    if s.mtime is None or d.mtime is None:
        return "copy", MTIME_UNKNOWN
    if dst_mtime == "exact":
        return ("skip", SAME_MTIME) if _same_mtime(s.mtime, d.mtime, window) \
            else ("copy", MTIME_DIFFERS)
    uploaded_after = d.mtime + UPLOAD_PRECISION > s.mtime
    return ("skip", SAME_MTIME) if uploaded_after else ("copy", SOURCE_NEWER)


def _decide(s: Entry, d: Entry | None, record: JournalRecord | None, compare: Compare,
            dst_mtime: MtimeKind, window: float) -> tuple[Action, str]:
    if d is None:
        return "copy", NEW
    if compare == "all":
        return "copy", COPY_ALL
    if s.size != d.size:
        return "copy", SIZE_DIFFERS
    if compare == "checksum":
        if s.checksum is None or d.checksum is None:
            return "copy", CHECKSUM_UNKNOWN
        return ("skip", SAME_CHECKSUM) if s.checksum == d.checksum \
            else ("copy", CONTENT_DIFFERS)
    return _decide_by_mtime(s, d, record, dst_mtime, window)


def plan_sync(src: Mapping[str, Entry], dst: Mapping[str, Entry], *,
              compare: Compare = "size-mtime", delete: bool = False,
              journal: Mapping[str, JournalRecord] | None = None,
              dst_mtime: MtimeKind = "exact", mtime_window: float = MTIME_WINDOW) -> Plan:
    """Steps that make ``dst`` mirror ``src`` (deletes only when ``delete``)."""
    journal = journal or {}
    steps: list[Step] = []
    add, dst_of, record_of = steps.append, dst.get, journal.get
    for path in sorted(src):
        s = src[path]
        d = dst_of(path)
        # The common case of a re-sync, decided without the calls below: a folder that
        # holds this file with the same size and mtime.
        if d is not None and dst_mtime == "exact" and compare == "size-mtime" \
                and not journal and s.size == d.size and s.mtime is not None \
                and d.mtime is not None and abs(s.mtime - d.mtime) < mtime_window:
            add(Step("skip", path, s.size, SAME_MTIME))
            continue
        action, reason = _decide(s, d, record_of(path), compare, dst_mtime, mtime_window)
        add(Step(action, path, s.size, reason))
    if delete:
        steps += [Step("delete", path, dst[path].size, NOT_IN_SOURCE)
                  for path in sorted(dst) if path not in src]
    return Plan(tuple(steps))


def checksum_candidates(src: Mapping[str, Entry], dst: Mapping[str, Entry]) -> list[str]:
    """Paths whose content must be hashed on both sides to decide (same size on both)."""
    return sorted(p for p, s in src.items() if p in dst and dst[p].size == s.size)


def with_checksums(entries: Mapping[str, Entry], sums: Mapping[str, str]) -> dict[str, Entry]:
    """``entries`` with the given checksums filled in."""
    return {p: replace(e, checksum=sums[p]) if p in sums else e for p, e in entries.items()}
