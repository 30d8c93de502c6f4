"""RAG over governed data, full size: ingest a generated corpus (every format, planted PII)
from a volume snapshot, change 1% of it and re-index incrementally against a full rebuild
of the same snapshot, then score retrieval against BM25 (rank-bm25) over the same chunks
and time queries of both.

    .venv/bin/python bench/rag.py [--documents 200]
Run it alone (flock /tmp/mlfabric-heavy.lock): the embedding uses both cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from pathlib import Path

from mlfabric import snapshots, volumes
from mlfabric.apps import rag
from mlfabric.apps.rag.answer import open_index
from mlfabric.apps.rag.embed import embedder


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = str(Path(tmp) / "home")
        Path(home).mkdir()
        volumes.create("docs", home=home)
        volumes.create("idx", home=home)
        root = Path(volumes.path("docs", home=home))
        corpus = rag.make_corpus(str(root / "corpus"), documents=args.documents,
                                 truth=str(Path(tmp) / "truth.json"))
        snapshots.create("docs", name="s1", home=home)
        t = time.perf_counter()
        embedder()
        load_s = time.perf_counter() - t
        first = rag.ingest("docs@s1", volume="idx", home=home)
        print(f"machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"model load {load_s:.1f}s (once per process)")
        print(f"full ingest: {first.documents} documents, {first.chunks} chunks in "
              f"{first.seconds:.1f}s = {first.documents / first.seconds:.1f} documents/s, "
              f"{first.chunks / first.seconds:.1f} chunks/s")

        e = rag.evaluate(corpus.truth, volume="idx", home=home)
        print(f"retrieval over {e.questions} questions: recall@5 {e.recall_at_k:.3f} vs BM25 "
              f"{e.bm25_recall_at_k:.3f} (ratio {e.recall_at_k / e.bm25_recall_at_k:.3f}); "
              f"MRR {e.mrr:.3f} vs BM25 {e.bm25_mrr:.3f}; extractive EM {e.exact_match:.3f} "
              f"F1 {e.f1:.3f}; PII in answers {e.pii_in_answers}")
        for kind, s in e.pii.items():
            print(f"  PII {kind:15s} planted {s['planted']:4d} found {s['found']:4d} "
                  f"recall {s['recall']:.3f} precision {s['precision']:.3f}")

        # query latency: the embedding index against BM25 over the same chunks
        import json

        import rank_bm25

        questions = [q["question"] for q in json.loads(Path(corpus.truth).read_text())["qa"]]
        dense = []
        for q in questions:
            t = time.perf_counter()
            rag.ask(q, volume="idx", offline=True, home=home)
            dense.append((time.perf_counter() - t) * 1e3)
        chunks = list(open_index("idx", "default", home).chunks.values())
        tok = re.compile(r"[a-z0-9]+")
        bm25 = rank_bm25.BM25Okapi([tok.findall(f"{c['heading']} {c['text']}".lower())
                                    for c in chunks])
        sparse = []
        for q in questions:
            t = time.perf_counter()
            scores = bm25.get_scores(tok.findall(q.lower()))
            sorted(range(len(chunks)), key=lambda i: -scores[i])[:5]
            sparse.append((time.perf_counter() - t) * 1e3)
        print(f"query latency (ask: embed, search, extract, mask) p50 {pct(dense, .5):.1f} ms "
              f"p95 {pct(dense, .95):.1f} ms; BM25 scoring alone p50 {pct(sparse, .5):.1f} ms "
              f"p95 {pct(sparse, .95):.1f} ms (ratio p50 {pct(dense, .5) / pct(sparse, .5):.2f})")

        # 1% of the documents change
        docs = sorted(p for p in (root / "corpus").iterdir())
        step = max(1, len(docs) // max(1, len(docs) // 100))
        changed = [d for d in docs if d.suffix in (".md", ".txt", ".html")][::step][
            :max(1, len(docs) // 100)]
        for d in changed:
            d.write_text(d.read_text().replace("Field visits", "Monthly field visits"))
        snapshots.create("docs", name="s2", home=home)
        inc = rag.ingest("docs@s2", volume="idx", home=home)
        full = rag.ingest("docs@s2", volume="idx", index="rebuild", home=home)
        assert inc.method == "snapshot diff" and len(inc.indexed) == len(changed)
        print(f"1% change ({len(changed)} of {len(docs)} documents): incremental "
              f"{inc.seconds:.2f}s ({len(inc.indexed)} documents read, {inc.chunks_added} "
              f"chunks embedded) vs full rebuild {full.seconds:.1f}s: "
              f"{full.seconds / inc.seconds:.1f}x faster")


if __name__ == "__main__":
    main()
