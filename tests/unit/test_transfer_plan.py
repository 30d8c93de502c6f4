"""Sync planning: pure decisions from two listings and the journal (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mlfabric.transfer import plan as p
from mlfabric.transfer.plan import Entry, JournalRecord, plan_sync


def E(path: str = "f", size: int = 10, mtime: float | None = 100.0, token: str | None = None,
      checksum: str | None = None) -> Entry:
    """An entry builder: defaults describe one 10-byte file with mtime 100."""
    return Entry(path, size, mtime, token if token is not None else f"mtime:{mtime!r}",
                 checksum)


def J(path: str = "f", src_size: int = 10, src_mtime: float | None = 100.0,
      dst_size: int = 10, dst_token: str | None = "etag:abc") -> JournalRecord:
    return JournalRecord(path, src_size, src_mtime, dst_size, dst_token)


@dataclass
class Case:
    src: Entry | None
    dst: Entry | None
    want: tuple[str, str]
    journal: JournalRecord | None = None
    compare: p.Compare = "size-mtime"
    dst_mtime: p.MtimeKind = "exact"
    delete: bool = True
    extra: dict[str, object] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "new file": Case(E(), None, ("copy", p.NEW)),
    "same size and mtime (exact)": Case(E(), E(), ("skip", p.SAME_MTIME)),
    "size differs": Case(E(size=11), E(), ("copy", p.SIZE_DIFFERS)),
    "mtime differs (exact)": Case(E(mtime=101.0), E(), ("copy", p.MTIME_DIFFERS)),
    "mtime within rounding window": Case(E(mtime=100.0004), E(), ("skip", p.SAME_MTIME)),
    "destination newer (exact) still copies": Case(E(), E(mtime=200.0),
                                                   ("copy", p.MTIME_DIFFERS)),
    "upload after change (object store)": Case(E(), E(mtime=150.0, token="etag:x"),
                                               ("skip", p.SAME_MTIME), dst_mtime="upload"),
    "upload before change (object store)": Case(E(mtime=300.0), E(mtime=150.0),
                                                ("copy", p.SOURCE_NEWER), dst_mtime="upload"),
    "upload in the same second, truncated": Case(E(mtime=150.7), E(mtime=150.0),
                                                 ("skip", p.SAME_MTIME), dst_mtime="upload"),
    "upload a second before change": Case(E(mtime=151.0), E(mtime=150.0),
                                          ("copy", p.SOURCE_NEWER), dst_mtime="upload"),
    "source mtime unknown": Case(E(mtime=None), E(), ("copy", p.MTIME_UNKNOWN)),
    "journal: both sides as left": Case(
        E(mtime=300.0), E(mtime=150.0, token="etag:abc"), ("skip", p.SAME_JOURNAL),
        journal=J(src_mtime=300.0), dst_mtime="upload"),
    "journal: source changed since, upload rule alone would skip": Case(
        E(mtime=120.0), E(mtime=150.0, token="etag:abc"), ("copy", p.SOURCE_CHANGED),
        journal=J(src_mtime=100.0), dst_mtime="upload"),
    "journal: destination replaced by someone else -> mtime rule": Case(
        E(mtime=300.0), E(mtime=150.0, token="etag:other"), ("copy", p.SOURCE_NEWER),
        journal=J(src_mtime=300.0), dst_mtime="upload"),
    "journal: local destination as left": Case(
        E(), E(size=10, token="etag:abc"), ("skip", p.SAME_JOURNAL), journal=J()),
    "journal ignored when sizes differ": Case(
        E(size=12), E(token="etag:abc"), ("copy", p.SIZE_DIFFERS), journal=J(src_size=12)),
    "checksum equal": Case(E(checksum="sha256:1"), E(mtime=5.0, checksum="sha256:1"),
                           ("skip", p.SAME_CHECKSUM), compare="checksum"),
    "checksum differs, same size and mtime": Case(
        E(checksum="sha256:1"), E(checksum="sha256:2"), ("copy", p.CONTENT_DIFFERS),
        compare="checksum"),
    "checksum missing": Case(E(checksum=None), E(checksum="sha256:2"),
                             ("copy", p.CHECKSUM_UNKNOWN), compare="checksum"),
    "checksum mode still copies on size": Case(E(size=3), E(), ("copy", p.SIZE_DIFFERS),
                                               compare="checksum"),
    "copy all": Case(E(), E(), ("copy", p.COPY_ALL), compare="all"),
    "delete extra": Case(None, E(), ("delete", p.NOT_IN_SOURCE)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_decision(name: str) -> None:
    c = CASES[name]
    src = {"f": c.src} if c.src else {}
    dst = {"f": c.dst} if c.dst else {}
    journal = {"f": c.journal} if c.journal else {}
    plan = plan_sync(src, dst, compare=c.compare, delete=c.delete, journal=journal,
                     dst_mtime=c.dst_mtime)
    assert [(s.action, s.reason) for s in plan.steps] == [c.want]


def test_no_delete_without_flag() -> None:
    plan = plan_sync({}, {"x": E("x")}, delete=False)
    assert plan.steps == ()


def test_plan_totals_and_order() -> None:
    src = {"b": E("b", 5), "a": E("a", 7), "c": E("c")}
    dst = {"c": E("c"), "z": E("z", 3)}
    plan = plan_sync(src, dst, delete=True)
    assert [(s.action, s.path) for s in plan.steps] == [
        ("copy", "a"), ("copy", "b"), ("skip", "c"), ("delete", "z")]
    assert plan.bytes_to_copy == 12
    assert [s.path for s in plan.copies] == ["a", "b"]
    assert [s.path for s in plan.deletes] == ["z"]
    assert plan.reasons() == {p.NEW: 2, p.NOT_IN_SOURCE: 1, p.SAME_MTIME: 1}


def test_checksum_candidates_are_same_size_pairs() -> None:
    src = {"same": E("same"), "diff": E("diff", 3), "new": E("new")}
    dst = {"same": E("same", mtime=1.0), "diff": E("diff", 4), "old": E("old")}
    assert p.checksum_candidates(src, dst) == ["same"]
    filled = p.with_checksums(src, {"same": "sha256:9"})
    assert filled["same"].checksum == "sha256:9" and filled["new"].checksum is None
