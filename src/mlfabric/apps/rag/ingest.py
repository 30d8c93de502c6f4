"""Ingestion: documents of a pinned source read, chunked, screened for PII, redacted by
policy, embedded and written to a FAISS index on a volume, which is then snapshotted.
A later ingestion of another snapshot re-reads only what ``snapshot diff`` says changed
(a dataset version: what its content hashes say)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from mlfabric import snapshots, volumes
from mlfabric.apps.rag import pii
from mlfabric.apps.rag.chunking import Section, chunk_sections
from mlfabric.apps.rag.embed import embedder
from mlfabric.apps.rag.loaders import MAX_BYTES, BadDocument, read_document
from mlfabric.apps.rag.records import IngestReport
from mlfabric.apps.rag.sources import Source, files, materialized, resolve
from mlfabric.apps.rag.store import IndexFiles, index_folder
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.progress import NO_PROGRESS, Progress

# A finding stands in the text as one word while chunks are cut, so no window splits it.
_HOLDER = re.compile(r"\u27e6(\d+)\u27e7")


@dataclass(frozen=True)
class Policy:
    """How PII is treated before it reaches the index: ``redact`` (none, mask, hash, drop)
    applies to ``redact_types``; a chunk that still holds a finding of a type in
    ``refuse`` is not indexed."""

    redact: str = "mask"
    redact_types: tuple[str, ...] = pii.TYPES
    refuse: tuple[str, ...] = pii.CHECKSUM_TYPES

    def __post_init__(self) -> None:
        if self.redact not in pii.MODES:
            raise InvalidInput(f"invalid redaction mode '{self.redact}': expected one of "
                               f"{', '.join(pii.MODES)}", field="redact", value=self.redact)
        pii.check_types(self.redact_types)
        pii.check_types(self.refuse)

    def redacts(self, f: pii.Finding) -> bool:
        return self.redact != "none" and f.type in self.redact_types


@dataclass
class Prepared:
    """One document read, chunked and redacted, ready to embed."""

    path: str
    chunks: list[dict[str, Any]] = field(default_factory=list)
    pii: dict[str, int] = field(default_factory=dict)
    chunk_pii: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    refused: int = 0


def prepare(sections: list[Section], path: str, policy: Policy, key: bytes, *,
            size: int, overlap: int) -> Prepared:
    """Chunks of a document after the PII policy, with what was found per chunk."""
    table: list[pii.Finding] = []
    held = []
    for s in sections:
        parts, last = [], 0
        for f in pii.find_pii(s.text):
            parts += [s.text[last:f.start], f"\u27e6{len(table)}\u27e7"]
            table.append(f)
            last = f.end
        held.append(Section(s.heading, "".join([*parts, s.text[last:]])))
    out = Prepared(path, pii=pii.counts(table))
    for c in chunk_sections(held, size=size, overlap=overlap):
        found = [table[int(n)] for n in _HOLDER.findall(c.text)]
        if found:
            out.chunk_pii.append({"chunk": c.index, "counts": pii.counts(found)})
        if policy.redact == "drop" and any(policy.redacts(f) for f in found):
            out.dropped += 1
            continue
        if any(f.type in policy.refuse and not policy.redacts(f) for f in found):
            out.refused += 1
            continue

        def shown(m: re.Match[str]) -> str:
            f = table[int(m.group(1))]
            if not policy.redacts(f):
                return f.value
            return pii.token(f, key) if policy.redact == "hash" else f"[{f.type.upper()}]"

        out.chunks.append({"chunk": c.index, "heading": c.heading,
                           "text": _HOLDER.sub(shown, c.text)})
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plan(idx: IndexFiles, src: Source, root: str, present: list[str], method: str,
          home: str | None) -> tuple[str, list[str], list[str]]:
    """(method, documents to (re)read, documents gone) against the index's last source."""
    if method == "full":
        return method, present, []
    known = set(idx.documents)
    if idx.meta.get("source_kind") == "snapshot" and src.kind == "snapshot":
        d = snapshots.diff(idx.meta["source"], src.ref, home=home)
        live = set(present)
        todo = (set(d.added) | set(d.modified)) & live | (live - known)
        return "snapshot diff", sorted(todo), sorted(set(d.deleted) & known)
    todo = [p for p in present
            if idx.documents.get(p, {}).get("sha256") != _sha256(os.path.join(root, p))]
    return "content hash", todo, sorted(known - set(present))


def ingest(source: str, *, volume: str, index: str = "default", chunk_size: int = 120,
           overlap: int = 30, redact: str = "mask", redact_types: list[str] | None = None,
           refuse: list[str] | None = None, full: bool = False, max_bytes: int = MAX_BYTES,
           home: str | None = None, progress: Progress = NO_PROGRESS) -> IngestReport:
    """Index the documents of ``source`` (``VOLUME@SNAPSHOT`` or ``DATASET[:VERSION]``)
    into index ``index`` on ``volume``; only changed documents when the index exists."""
    started = time.monotonic()
    policy = Policy(redact, pii.check_types(redact_types) if redact_types else pii.TYPES,
                    pii.check_types(refuse) if refuse is not None else pii.CHECKSUM_TYPES)
    src = resolve(source, home=home)
    if src.snapshot and src.snapshot.split("@")[0] == volume:
        raise InvalidInput(f"the index volume '{volume}' is the source's own volume: "
                           "choose another", field="volume", value=volume)
    folder = index_folder(volumes.path(volume, home=home), index)
    settings = {"chunk_size": chunk_size, "overlap": overlap, "redact": policy.redact,
                "redact_types": list(policy.redact_types), "refuse": list(policy.refuse),
                "max_bytes": max_bytes}
    chunk_sections([], size=chunk_size, overlap=overlap)  # checks the sizes up front
    try:
        idx = IndexFiles.load(folder)
        method = "full" if full or any(idx.meta.get(k) != v for k, v in settings.items()) \
            else "incremental"
    except NotFound:
        idx, method = None, "full"
    if method == "full":
        lineage = idx.meta["lineage"] if idx else []
        idx = IndexFiles.new(folder, index, **settings)
        idx.meta["lineage"] = lineage
    assert idx is not None
    key = bytes.fromhex(idx.meta["hash_key"])
    problems: list[dict[str, str]] = []
    prepared: list[Prepared] = []
    with materialized(src, home=home, progress=progress) as root:
        present = files(root)
        method, todo, gone = _plan(idx, src, root, present, method, home)
        progress.start(f"reading {len(todo)} documents", len(todo))
        for p in todo:
            idx.remove(p)
            full_path = os.path.join(root, p)
            entry: dict[str, Any] = {"sha256": _sha256(full_path), "ids": []}
            try:
                sections = read_document(full_path, name=p, max_bytes=max_bytes)
                prepared.append(prepare(sections, p, policy, key, size=chunk_size,
                                        overlap=overlap))
            except BadDocument as exc:
                problems.append({"document": p, "reason": exc.reason})
                entry["problem"] = exc.reason
            idx.documents[p] = entry
            progress.advance()
        progress.finish()
    for p in gone:
        idx.remove(p)
    texts = [f"{c['heading']}\n{c['text']}" if c["heading"] else c["text"]
             for d in prepared for c in d.chunks]
    progress.start(f"embedding {len(texts)} chunks", None)
    vectors = embedder().encode(texts)
    progress.finish()
    at = 0
    for d in prepared:
        ids = idx.add(d.path, d.chunks, vectors[at:at + len(d.chunks)])
        at += len(d.chunks)
        idx.documents[d.path].update(ids=ids, chunks=len(ids), pii=d.pii,
                                     chunk_pii=d.chunk_pii, dropped=d.dropped,
                                     refused=d.refused)
    taken = {s.name for s in snapshots.list(volume, home=home)}
    n = len(idx.meta["lineage"]) + 1
    while f"rag-{index[:40]}-{n}" in taken:  # an index removed by hand left its snapshots
        n += 1
    snap_name = f"rag-{index[:40]}-{n}"
    now = time.time()
    idx.meta.update(source=src.ref, source_kind=src.kind, source_snapshot=src.snapshot,
                    updated_at=now)
    idx.meta["lineage"].append({"source": src.ref, "method": method, "indexed": len(todo),
                                "removed": len(gone), "snapshot": f"{volume}@{snap_name}",
                                "at": now})
    idx.save()
    snap = snapshots.create(volume, name=snap_name, home=home)
    totals: dict[str, int] = {}
    for d in prepared:
        for t, n in d.pii.items():
            totals[t] = totals.get(t, 0) + n
    return IngestReport(
        volume=volume, index=index, source=src.ref, source_kind=src.kind, method=method,
        snapshot=snap.ref, documents=len(idx.documents), indexed=todo, removed=gone,
        unchanged=len(present) - len(todo), chunks=len(idx.chunks),
        chunks_added=len(texts), chunks_dropped=sum(d.dropped for d in prepared),
        chunks_refused=sum(d.refused for d in prepared), pii=dict(sorted(totals.items())),
        problems=problems, seconds=round(time.monotonic() - started, 3))
