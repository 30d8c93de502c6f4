"""What the RAG app's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class IngestReport(Record):
    """An ingestion: what was read from the source, what changed in the index, the
    problems met per file, and the index snapshot that pins the result."""

    volume: str
    index: str
    source: str  # the pinned snapshot or dataset version
    source_kind: str
    method: str  # full, snapshot diff, or content hash (incremental)
    snapshot: str  # VOLUME@SNAPSHOT of the index volume after this ingestion
    documents: int  # documents in the index now
    indexed: list[str]  # documents (re)embedded by this run
    removed: list[str]
    unchanged: int
    chunks: int  # in the index now
    chunks_added: int
    chunks_dropped: int  # by the drop-chunk redaction
    chunks_refused: int  # by the policy: unredacted PII of a refused type
    pii: dict[str, int]  # findings by type in the documents (re)read
    problems: list[dict] = field(default_factory=list)  # {document, reason}
    seconds: float = 0.0


@dataclass(frozen=True)
class PiiReport(Record):
    """PII found per document and per chunk, with totals by type and the documents each
    type affects."""

    source: str
    documents: list[dict]  # {document, counts, chunks: [{chunk, counts}]}
    totals: dict[str, int]
    affected: dict[str, int]  # documents with at least one finding, by type
    documents_scanned: int
    problems: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class IndexInfo(Record):
    """An index on a volume: its source (lineage), settings, size and PII totals."""

    volume: str
    name: str
    source: str
    source_kind: str
    model: str
    engine: str
    redact: str
    refuse: list[str]
    documents: int
    chunks: int
    pii: dict[str, int]
    lineage: list[dict]
    updated_at: float


@dataclass(frozen=True)
class Answer(Record):
    """An answer with its citations (document, chunk, snapshot), or a refusal and why."""

    question: str
    answer: str | None
    refused: str | None  # why no answer was given
    citations: list[dict]  # {document, chunk, heading, snapshot, score, text}
    mode: str  # extractive or generated
    best_score: float | None


@dataclass(frozen=True)
class EvalReport(Record):
    """Retrieval and answer quality against a generated QA set, the BM25 baseline on the
    same chunks, and PII recall/precision per type against the planted values."""

    volume: str
    index: str
    questions: int
    k: int
    recall_at_k: float
    mrr: float
    bm25_recall_at_k: float
    bm25_mrr: float
    exact_match: float
    f1: float
    pii: dict[str, dict]  # type -> {planted, found, true_positives, recall, precision}
    pii_in_answers: int  # planted values seen in any answer (must be 0)
    refused: int
