"""Retrieval-augmented generation over governed data: documents of a volume snapshot or
dataset version are chunked by heading, screened for PII (and redacted or refused by
policy), embedded offline (all-MiniLM-L6-v2) into a FAISS index kept on a volume and
pinned by a snapshot to the source it came from; re-ingestion reads only what changed.
Questions get top-k citations and an extractive (or configured OpenAI-compatible
generated) answer behind guardrails.

Public API mirroring ``mlfabric rag ...``: ``ingest``, ``scan_pii``, ``ask``, ``search``,
``evaluate``, ``make_corpus``, ``pii_report``, ``list_indexes``, ``show_index``. The
heavy packages load on first use (the ``rag`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

APP = App(name="rag", help="Retrieval-augmented generation over governed data (PII-aware).",
          module=__name__, cli="mlfabric.apps.rag.cli:app", page="web",
          routes=(
              Route("list_indexes", "GET", "/rag/indexes", access="any", refs="volume:volume"),
              Route("show_index", "GET", "/rag/indexes/{index}", access="any",
                    refs="volume:volume"),
              Route("pii_report", "GET", "/rag/indexes/{index}/pii", access="any",
                    refs="volume:volume"),
              Route("ask", "POST", "/rag/indexes/{index}/ask", access="any",
                    refs="volume:volume"),
              Route("ingest", "POST", "/rag/ingest", refs="volume:volume source:text"),
              Route("scan_pii", "POST", "/rag/scan-pii", refs="source:text"),
          ))

_EXPORTS = {
    "ingest": "ingest", "Policy": "ingest", "prepare": "ingest",
    "scan_pii": "reports", "pii_report": "reports", "list_indexes": "reports",
    "show_index": "reports",
    "ask": "answer", "search": "answer", "topic_refusal": "answer", "MIN_SCORE": "answer",
    "evaluate": "evaluation", "rank_metrics": "evaluation", "pii_scores": "evaluation",
    "make_corpus": "corpus", "write_document": "corpus", "Corpus": "corpus",
    "find_pii": "pii", "redact": "pii", "mask": "pii", "Finding": "pii", "TYPES": "pii",
    "CHECKSUM_TYPES": "pii",
    "read_document": "loaders", "BadDocument": "loaders", "MAX_BYTES": "loaders",
    "chunk_sections": "chunking", "markdown_sections": "chunking", "Section": "chunking",
    "plain_sections": "chunking", "extract_answer": "extract:extract",
    "exact_match": "extract", "f1": "extract",
    "Endpoint": "generate",
    "IngestReport": "records", "PiiReport": "records", "IndexInfo": "records",
    "Answer": "records", "EvalReport": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("numpy",), extra="rag")
