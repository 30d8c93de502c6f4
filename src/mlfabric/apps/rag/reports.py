"""PII reports (of a source, scanned now, or of an index, as found when it was built) and
the indexes a volume holds."""

from __future__ import annotations

import os
from pathlib import Path

from mlfabric import volumes
from mlfabric.apps.rag.chunking import chunk_sections
from mlfabric.apps.rag.ingest import Policy, prepare
from mlfabric.apps.rag.loaders import MAX_BYTES, BadDocument, read_document
from mlfabric.apps.rag.records import IndexInfo, PiiReport
from mlfabric.apps.rag.sources import files, materialized, resolve
from mlfabric.apps.rag.store import IndexFiles, index_folder
from mlfabric.progress import NO_PROGRESS, Progress


def _report(source: str, docs: list[dict], scanned: int, problems: list[dict]) -> PiiReport:
    totals: dict[str, int] = {}
    affected: dict[str, int] = {}
    for d in docs:
        for t, n in d["counts"].items():
            totals[t] = totals.get(t, 0) + n
            affected[t] = affected.get(t, 0) + 1
    return PiiReport(source, docs, dict(sorted(totals.items())), dict(sorted(affected.items())),
                     scanned, problems)


def scan_pii(source: str, *, chunk_size: int = 120, overlap: int = 30,
             max_bytes: int = MAX_BYTES, home: str | None = None,
             progress: Progress = NO_PROGRESS) -> PiiReport:
    """PII per document and per chunk of a source (``VOLUME@SNAPSHOT`` or
    ``DATASET[:VERSION]``), with counts by type and documents affected; nothing written."""
    chunk_sections([], size=chunk_size, overlap=overlap)
    src = resolve(source, home=home)
    docs, problems = [], []
    policy = Policy("none", refuse=())
    with materialized(src, home=home, progress=progress) as root:
        present = files(root)
        progress.start(f"scanning {len(present)} documents", len(present))
        for p in present:
            try:
                sections = read_document(os.path.join(root, p), name=p, max_bytes=max_bytes)
            except BadDocument as exc:
                problems.append({"document": p, "reason": exc.reason})
            else:
                d = prepare(sections, p, policy, b"", size=chunk_size, overlap=overlap)
                if d.pii:
                    docs.append({"document": p, "counts": d.pii, "chunks": d.chunk_pii})
            progress.advance()
        progress.finish()
    return _report(src.ref, docs, len(present), problems)


def _load(volume: str, index: str, home: str | None) -> IndexFiles:
    return IndexFiles.load(index_folder(volumes.path(volume, home=home), index))


def pii_report(*, volume: str, index: str = "default", home: str | None = None) -> PiiReport:
    """The PII found in an index's documents when they were ingested (before redaction)."""
    idx = _load(volume, index, home)
    docs = [{"document": p, "counts": d["pii"], "chunks": d.get("chunk_pii", [])}
            for p, d in sorted(idx.documents.items()) if d.get("pii")]
    problems = [{"document": p, "reason": d["problem"]}
                for p, d in sorted(idx.documents.items()) if d.get("problem")]
    return _report(idx.meta["source"], docs, len(idx.documents), problems)


def _info(volume: str, idx: IndexFiles) -> IndexInfo:
    m = idx.meta
    totals: dict[str, int] = {}
    for d in idx.documents.values():
        for t, n in (d.get("pii") or {}).items():
            totals[t] = totals.get(t, 0) + n
    return IndexInfo(volume, m["name"], m["source"], m["source_kind"], m["model"], m["engine"],
                     m["redact"], m["refuse"], len(idx.documents), len(idx.chunks),
                     dict(sorted(totals.items())), m["lineage"], m["updated_at"])


def show_index(*, volume: str, index: str = "default", home: str | None = None) -> IndexInfo:
    """An index: its source (lineage), settings, size and PII totals."""
    return _info(volume, _load(volume, index, home))


def list_indexes(*, volume: str, home: str | None = None) -> list[IndexInfo]:
    """The indexes on a volume, by name."""
    base = Path(volumes.path(volume, home=home)) / "rag"
    names = sorted(p.name for p in base.iterdir() if (p / "meta.json").is_file()) \
        if base.is_dir() else []
    return [_info(volume, _load(volume, n, home)) for n in names]


