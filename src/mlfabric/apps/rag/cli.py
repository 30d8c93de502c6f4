"""``mlfabric rag ingest|scan-pii|query|eval|make-corpus|indexes|pii-report``."""

from __future__ import annotations

import typer

from mlfabric.apps import rag
from mlfabric.console import OPTIONS, emit_json, progress, say, table, warn

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.rag

_VOLUME = "Volume holding the index (not the source's volume)."
_INDEX = "Index name on that volume."


def _types(text: str | None) -> list[str] | None:
    return None if text is None else [t for t in text.split(",") if t.strip()]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{t} {n}" for t, n in counts.items()) or "none"


@app.command("ingest")
def ingest(source: str = typer.Argument(..., help="VOLUME@SNAPSHOT or DATASET[:VERSION]."),
           volume: str = typer.Option(..., "--volume", help=_VOLUME),
           index: str = typer.Option("default", "--index", help=_INDEX),
           chunk_size: int = typer.Option(120, "--chunk-size", help="Words per chunk."),
           overlap: int = typer.Option(30, "--overlap", help="Words shared by neighbours."),
           redact: str = typer.Option("mask", "--redact", help="PII redaction: none, mask, "
                                      "hash or drop (the chunk)."),
           redact_types: str | None = typer.Option(None, "--redact-types", help="PII types "
                                                   "to redact (default all)."),
           refuse: str | None = typer.Option(None, "--refuse", help="PII types never indexed "
                                             "unredacted (default the checksum types; '' "
                                             "for none)."),
           full: bool = typer.Option(False, "--full", help="Rebuild instead of updating."),
           max_bytes: int = typer.Option(rag.MAX_BYTES, "--max-bytes", help="Larger files "
                                         "are reported, not read."),
           ) -> None:
    """Index a snapshot or dataset version; an existing index re-reads only what changed."""
    r = rag.ingest(source, volume=volume, index=index, chunk_size=chunk_size, overlap=overlap,
                   redact=redact, redact_types=_types(redact_types), refuse=_types(refuse),
                   full=full, max_bytes=max_bytes, home=OPTIONS.home,
                   progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    for p in r.problems:
        warn(f"{p['document']}: {p['reason']}")
    say(f"{r.method}: {len(r.indexed)} documents read, {len(r.removed)} removed, "
        f"{r.unchanged} unchanged; {r.chunks_added} chunks added ({r.chunks_dropped} dropped, "
        f"{r.chunks_refused} refused for PII); index {r.index} now {r.documents} documents, "
        f"{r.chunks} chunks from {r.source}, snapshot {r.snapshot} ({r.seconds:.1f}s)")
    say(f"PII found: {_counts(r.pii)}")


@app.command("scan-pii")
def scan_pii(source: str | None = typer.Argument(None, help="VOLUME@SNAPSHOT or "
                                                 "DATASET[:VERSION] to scan now."),
             volume: str | None = typer.Option(None, "--volume", help="Or report an index "
                                               "on this volume."),
             index: str = typer.Option("default", "--index", help=_INDEX)) -> None:
    """PII per document and chunk, with counts by type and documents affected."""
    if (source is None) == (volume is None):
        raise typer.BadParameter("give a SOURCE or --volume (an index's report), not both")
    r = (rag.scan_pii(source, home=OPTIONS.home, progress=progress()) if source
         else rag.pii_report(volume=volume, index=index, home=OPTIONS.home))
    if OPTIONS.json:
        emit_json(r)
        return
    table(["TYPE", "FINDINGS", "DOCUMENTS"], [[t, n, r.affected[t]] for t, n in r.totals.items()],
          title=f"PII in {r.source}: {len(r.documents)} of {r.documents_scanned} documents")
    for p in r.problems:
        warn(f"{p['document']}: {p['reason']}")


@app.command("query")
def query(question: str = typer.Argument(..., help="The question."),
          volume: str = typer.Option(..., "--volume", help=_VOLUME),
          index: str = typer.Option("default", "--index", help=_INDEX),
          k: int = typer.Option(5, "-k", "--top-k", help="Chunks to retrieve."),
          min_score: float = typer.Option(0.35, "--min-score",
                                          help="Refuse below this best similarity."),
          allow: str | None = typer.Option(None, "--allow", help="Comma-separated topics a "
                                           "question must name."),
          deny: str | None = typer.Option(None, "--deny", help="Comma-separated topics "
                                          "refused."),
          llm_url: str | None = typer.Option(None, "--llm-url", help="OpenAI-compatible base "
                                             "URL (default $MLFABRIC_RAG_LLM_URL; none: "
                                             "extractive)."),
          llm_model: str | None = typer.Option(None, "--llm-model", help="Model name there.")
          ) -> None:
    """Answer a question with citations (document, chunk, snapshot), or refuse."""
    a = rag.ask(question, volume=volume, index=index, k=k, min_score=min_score,
                allow=_types(allow), deny=_types(deny), llm_url=llm_url, llm_model=llm_model,
                home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(a)
        return
    say(f"refused: {a.refused}" if a.refused else f"{a.answer}  ({a.mode})")
    table(["SCORE", "DOCUMENT", "CHUNK", "SNAPSHOT", "HEADING"],
          [[f"{c['score']:.3f}", c["document"], c["chunk"], c["snapshot"], c["heading"]]
           for c in a.citations])


@app.command("eval")
def eval_(truth: str = typer.Option(..., "--truth", help="Truth file of a generated corpus."),
          volume: str = typer.Option(..., "--volume", help=_VOLUME),
          index: str = typer.Option("default", "--index", help=_INDEX),
          k: int = typer.Option(5, "-k", "--top-k", help="Cut-off for recall@k.")) -> None:
    """recall@k and MRR (and BM25's), extractive EM/F1, PII recall/precision per type."""
    r = rag.evaluate(truth, volume=volume, index=index, k=k, home=OPTIONS.home,
                     progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    say(f"{r.questions} questions: recall@{r.k} {r.recall_at_k:.3f} (BM25 "
        f"{r.bm25_recall_at_k:.3f}), MRR {r.mrr:.3f} (BM25 {r.bm25_mrr:.3f}), EM "
        f"{r.exact_match:.3f}, F1 {r.f1:.3f}, refused {r.refused}, PII in answers "
        f"{r.pii_in_answers}")
    table(["TYPE", "PLANTED", "FOUND", "RECALL", "PRECISION"],
          [[t, s["planted"], s["found"], f"{s['recall']:.3f}", f"{s['precision']:.3f}"]
           for t, s in r.pii.items()])


@app.command("make-corpus")
def make_corpus(path: str = typer.Argument(..., help="Folder to write documents into."),
                documents: int = typer.Option(20, "--documents", help="How many."),
                truth: str | None = typer.Option(None, "--truth", help="Truth file (default "
                                                 "PATH.truth.json)."),
                seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Generate documents with planted PII and a question-answer set."""
    c = rag.make_corpus(path, documents=documents, truth=truth, seed=seed)
    if OPTIONS.json:
        emit_json(c)
    else:
        say(f"wrote {c.documents} documents to {c.path}, {c.questions} questions and the "
            f"planted PII to {c.truth}")


@app.command("indexes")
def indexes(volume: str = typer.Option(..., "--volume", help="Volume to list.")) -> None:
    """The indexes on a volume with their source (lineage) and PII totals."""
    found = rag.list_indexes(volume=volume, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(found)
        return
    table(["NAME", "SOURCE", "DOCUMENTS", "CHUNKS", "REDACT", "PII"],
          [[i.name, i.source, i.documents, i.chunks, i.redact, _counts(i.pii)] for i in found])
