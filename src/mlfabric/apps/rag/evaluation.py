"""Evaluation against a generated corpus's truth file: retrieval recall@k and MRR of the
embedding index and of a BM25 baseline (``rank-bm25``) over the same chunks, extractive
exact-match and F1, and PII recall and precision per type against the planted values."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mlfabric.apps.rag import pii
from mlfabric.apps.rag.answer import MIN_SCORE, ask, open_index
from mlfabric.apps.rag.extract import exact_match, f1
from mlfabric.apps.rag.loaders import BadDocument, read_document
from mlfabric.apps.rag.records import EvalReport
from mlfabric.apps.rag.sources import files, materialized, resolve
from mlfabric.errors import InvalidInput
from mlfabric.extras import require
from mlfabric.progress import NO_PROGRESS, Progress

_TOKEN = re.compile(r"[a-z0-9]+")


def _norm(value: str) -> str:
    return re.sub(r"[\s\-]", "", value).upper()


def rank_metrics(ranks: list[int | None], k: int) -> tuple[float, float]:
    """(recall@k, MRR) from the 1-based rank of each question's first relevant hit."""
    if not ranks:
        return 0.0, 0.0
    hit = [r for r in ranks if r is not None and r <= k]
    return len(hit) / len(ranks), sum(1 / r for r in hit) / len(ranks)


def pii_scores(planted: set[tuple[str, str, str]], found: set[tuple[str, str, str]]
               ) -> dict[str, dict]:
    """Recall and precision per type of (document, type, value) findings."""
    out = {}
    for t in pii.TYPES:
        p = {x for x in planted if x[1] == t}
        f = {x for x in found if x[1] == t}
        tp = len(p & f)
        out[t] = {"planted": len(p), "found": len(f), "true_positives": tp,
                  "recall": tp / len(p) if p else 1.0,
                  "precision": tp / len(f) if f else (1.0 if not p else 0.0)}
    return out


def _same(path: str, truth: str) -> bool:
    """A truth file names documents relative to the corpus folder, which may sit anywhere
    in the source."""
    return path == truth or path.endswith("/" + truth)


def _first_relevant(texts: list[tuple[str, str]], document: str, sentence: str) -> int | None:
    want = " ".join(sentence.split())
    for rank, (doc, text) in enumerate(texts, 1):
        if _same(doc, document) and want in " ".join(text.split()):
            return rank
    return None


def _found_pii(source: str, home: str | None) -> set[tuple[str, str, str]]:
    found = set()
    with materialized(resolve(source, home=home), home=home) as root:
        for p in files(root):
            try:
                sections = read_document(os.path.join(root, p), name=p)
            except BadDocument:
                continue
            found |= {(p.rsplit("/", 1)[-1], f.type, _norm(f.value))
                      for s in sections for f in pii.find_pii(s.text)}
    return found


def evaluate(truth: str, *, volume: str, index: str = "default", k: int = 5,
             min_score: float = MIN_SCORE, home: str | None = None,
             progress: Progress = NO_PROGRESS) -> EvalReport:
    """Score an index built from a generated corpus against its truth file."""
    try:
        data = json.loads(Path(truth).read_text())
        qa, planted_list = data["qa"], data["pii"]
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"cannot read truth file '{truth}': {exc}", field="truth",
                           value=truth) from exc
    idx = open_index(volume, index, home)
    chunks = list(idx.chunks.values())
    bm25 = require("rank_bm25", "rag").BM25Okapi(
        [_TOKEN.findall(f"{c['heading']} {c['text']}".lower()) for c in chunks])
    dense, sparse, ems, f1s = [], [], [], []
    refused = leaked = 0
    values = [p["value"] for p in planted_list]
    progress.start(f"asking {len(qa)} questions", len(qa))
    for q in qa:
        a = ask(q["question"], volume=volume, index=index, k=k, min_score=min_score,
                offline=True, home=home)
        dense.append(_first_relevant([(c["document"], c["text"]) for c in a.citations],
                                     q["document"], q["sentence"]))
        scores = bm25.get_scores(_TOKEN.findall(q["question"].lower()))
        top = sorted(range(len(chunks)), key=lambda i: -scores[i])[:k]
        sparse.append(_first_relevant([(chunks[i]["document"], chunks[i]["text"]) for i in top],
                                      q["document"], q["sentence"]))
        ems.append(exact_match(a.answer, q["answer"]))
        f1s.append(f1(a.answer, q["answer"]))
        refused += a.refused is not None
        shown = " ".join([a.answer or "", *(c["text"] for c in a.citations)])
        leaked += any(v in shown or _norm(v) in _norm(shown) for v in values)
        progress.advance()
    progress.finish()
    planted = {(p["document"].rsplit("/", 1)[-1], p["type"], _norm(p["value"]))
               for p in planted_list}
    recall, mrr = rank_metrics(dense, k)
    bm25_recall, bm25_mrr = rank_metrics(sparse, k)
    n = max(len(qa), 1)
    return EvalReport(volume=volume, index=index, questions=len(qa), k=k,
                      recall_at_k=recall, mrr=mrr, bm25_recall_at_k=bm25_recall,
                      bm25_mrr=bm25_mrr, exact_match=sum(ems) / n, f1=sum(f1s) / n,
                      pii=pii_scores(planted, _found_pii(idx.meta["source"], home)),
                      pii_in_answers=leaked, refused=refused)
