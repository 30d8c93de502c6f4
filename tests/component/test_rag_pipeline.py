"""The RAG app on real volumes, snapshots and a dataset lake, with the real MiniLM model
(offline), FAISS, pypdf and python-docx: ingestion with per-file problems, lineage,
incremental re-indexing by snapshot diff, the evaluation's acceptance numbers,
guardrails, and an OpenAI-compatible endpoint (a loopback stub speaking the protocol)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from mlfabric import datasets, remotes, snapshots, volumes
from mlfabric.apps import rag
from tests.helpers import run_cli
from tests.server import start_server

MAX_BYTES = 100_000
# Files that cannot be ingested, and the reason each must be reported with.
BAD = {"bad/locked.pdf": "encrypted PDF", "bad/broken.pdf": "unreadable PDF",
       "bad/blob.txt": "binary file", "bad/huge.md": "too large", "bad/empty.txt": "empty",
       "bad/broken.docx": "unreadable DOCX"}


def _encrypted_pdf() -> bytes:
    import pypdf

    w = pypdf.PdfWriter()
    w.add_blank_page(612, 792)
    w.encrypt("secret")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@dataclass
class Built:
    home: str
    root: Path  # the source volume's folder
    truth: dict[str, Any]
    truth_file: str
    first: dict[str, Any]  # the CLI's JSON of the first ingestion
    evaluation: rag.EvalReport


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("rag")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFABRIC_CONFIG", str(tmp / "config.toml"))
        h = str(home)
        home.mkdir()
        volumes.create("docs", home=h)
        volumes.create("idx", home=h)
        root = Path(volumes.path("docs", home=h))
        corpus = rag.make_corpus(str(root / "corpus"), documents=10,
                                 truth=str(tmp / "truth.json"))
        (root / "bad").mkdir()
        (root / "bad/locked.pdf").write_bytes(_encrypted_pdf())
        (root / "bad/broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n")
        (root / "bad/blob.txt").write_bytes(bytes(range(256)) * 8)
        (root / "bad/huge.md").write_text("# Big\n\n" + "word " * 30_000)
        (root / "bad/empty.txt").write_text("")
        (root / "bad/broken.docx").write_bytes(b"PK\x03\x04 not a zip")
        snapshots.create("docs", name="s1", home=h)
        r = run_cli(home, "--json", "rag", "ingest", "docs@s1", "--volume", "idx",
                    "--max-bytes", str(MAX_BYTES))
        assert r.code == 0, r.err
        evaluation = rag.evaluate(corpus.truth, volume="idx", home=h)
        yield Built(h, root, json.loads(Path(corpus.truth).read_text()), corpus.truth,
                    r.json(), evaluation)


def test_bad_files_are_reported_one_by_one_and_ingestion_goes_on(built: Built) -> None:
    r = built.first
    reasons = {p["document"]: p["reason"] for p in r["problems"]}
    assert set(reasons) == set(BAD)
    for path, why in BAD.items():
        assert reasons[path].startswith(why), reasons[path]
    good = sorted(f"corpus/{p.name}" for p in (built.root / "corpus").iterdir())
    assert len(good) == 10 and set(good) <= set(r["indexed"])
    assert {Path(d).suffix for d in good} == {".md", ".txt", ".html", ".docx", ".pdf"}
    assert r["method"] == "full" and r["chunks"] == r["chunks_added"] > 10
    # every good document has chunks in the index, none of the bad ones
    info = rag.show_index(volume="idx", home=built.home)
    assert info.documents == 16 and info.chunks == r["chunks"]


def test_the_index_lives_on_a_volume_pinned_to_its_source(built: Built) -> None:
    r = built.first
    assert (r["source"], r["source_kind"], r["snapshot"]) == ("docs@s1", "snapshot",
                                                             "idx@rag-default-1")
    assert [s.ref for s in snapshots.list("idx", home=built.home)] == ["idx@rag-default-1"]
    info = rag.show_index(volume="idx", home=built.home)
    assert info.source == "docs@s1" and info.lineage[0]["snapshot"] == "idx@rag-default-1"
    assert info.model == "all-MiniLM-L6-v2" and info.engine.startswith("faiss")
    # no planted value reached the index's files (redaction: mask)
    folder = Path(volumes.path("idx", home=built.home)) / "rag" / "default"
    stored = (folder / "chunks.json").read_text()
    assert "[IBAN]" in stored and "[EMAIL]" in stored
    assert not [p["value"] for p in built.truth["pii"] if p["value"] in stored]


def test_evaluation_meets_the_acceptance_numbers(built: Built) -> None:
    e = built.evaluation
    assert e.questions == 30
    for kind in rag.CHECKSUM_TYPES:
        assert e.pii[kind]["planted"] == 10
        assert e.pii[kind]["recall"] >= 0.95 and e.pii[kind]["precision"] >= 0.95, e.pii
    assert e.pii_in_answers == 0
    assert e.recall_at_k >= e.bm25_recall_at_k and e.recall_at_k >= 0.9
    assert e.exact_match >= 0.8 and e.f1 >= e.exact_match


def test_incremental_reindex_reads_only_what_changed(built: Built) -> None:
    h, root = built.home, built.root
    docs = sorted(p.relative_to(root).as_posix() for p in (root / "corpus").glob("*.md"))
    changed, deleted = docs[0], sorted((root / "corpus").glob("*.txt"))[0]
    text = (root / changed).read_text()
    budget = next(q for q in built.truth["qa"] if "budget" in q["question"]
                  and q["document"] == Path(changed).name)
    (root / changed).write_text(text.replace(budget["answer"].split()[0], "77,777"))
    deleted.unlink()
    (root / "corpus/new.md").write_text("# Harbour cranes\n\n## Plan\n\nThe Ostend harbour "
                                        "crane upgrade budget is 12,345 euros.\n")
    snapshots.create("docs", name="s2", home=h)
    r = rag.ingest("docs@s2", volume="idx", max_bytes=MAX_BYTES, home=h)
    assert r.method == "snapshot diff"
    assert r.indexed == sorted([changed, "corpus/new.md"])
    assert r.removed == [deleted.relative_to(root).as_posix()]
    assert r.unchanged == 16 - 1 - 1  # everything else, bad files included, untouched
    assert r.snapshot == "idx@rag-default-2"
    a = rag.ask(budget["question"], volume="idx", offline=True, home=h)
    assert a.answer == "77,777 euros" and a.citations[0]["snapshot"] == "docs@s2"
    a = rag.ask("What is the Ostend harbour crane upgrade budget?", volume="idx",
                offline=True, home=h)
    assert a.answer == "12,345 euros" and a.citations[0]["document"] == "corpus/new.md"
    info = rag.show_index(volume="idx", home=h)
    assert [x["method"] for x in info.lineage] == ["full", "snapshot diff"]


def test_a_dataset_version_is_a_source_too(built: Built, tmp_path: Path) -> None:
    h = built.home
    remotes.add("lake", str(tmp_path / "lake"), home=h)
    volumes.create("notes", home=h)
    root = Path(volumes.path("notes", home=h))
    (root / "a.md").write_text("# Alpha\n\nThe alpha kiln runs at 900 degrees.\n")
    (root / "b.md").write_text("# Beta\n\nThe beta kiln runs at 700 degrees.\n")
    datasets.push("notes", name="kilns", remote="lake", home=h)
    r = rag.ingest("kilns", volume="idx", index="kilns", home=h)
    assert (r.source, r.source_kind, r.method) == ("kilns:v1", "dataset", "full")
    (root / "b.md").write_text("# Beta\n\nThe beta kiln runs at 650 degrees.\n")
    datasets.push("notes", name="kilns", remote="lake", home=h)
    r = rag.ingest("kilns:v2", volume="idx", index="kilns", home=h)
    assert (r.method, r.indexed, r.unchanged) == ("content hash", ["b.md"], 1)
    assert rag.show_index(volume="idx", index="kilns", home=h).source == "kilns:v2"


def test_guardrails(built: Built) -> None:
    h = built.home
    off = rag.ask("How do I bake a chocolate cake at home?", volume="idx", offline=True,
                  home=h)
    assert off.answer is None and off.refused.startswith("low retrieval confidence")
    q = built.truth["qa"][0]["question"]
    denied = rag.ask(q, volume="idx", deny=["budget", "codename", "review", "team", "launch"],
                     home=h)
    assert denied.answer is None and "is denied" in denied.refused
    assert rag.ask(q, volume="idx", allow=["payroll"], home=h).refused.startswith("outside")
    # asked for PII straight out: the answer and its citations carry none
    topic = built.truth["qa"][0]["sentence"].split(" budget")[0].split(" team")[0]
    lead = rag.ask(f"Who is the project lead of {topic}, and their email and phone?",
                   volume="idx", offline=True, home=h)
    shown = json.dumps(lead.to_dict())
    assert lead.citations and not [p["value"] for p in built.truth["pii"]
                                   if p["value"] in shown]


class _Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat-completions endpoint: it records each request and answers
    with a canned text (naming an email address, which must never reach the user)."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                           "body": body})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"model crashed")
            return
        first = body["messages"][-1]["content"].split("[1] ")[1][:40]
        reply = {"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                     "role": "assistant",
                     "content": f"Per [1]: {first} (ask ops@corp.example)"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Stub.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_configured_openai_compatible_endpoint_answers(built: Built, stub: str) -> None:
    q = built.truth["qa"][1]["question"]
    r = run_cli(built.home, "--json", "rag", "query", q, "--volume", "idx",
                env={"MLFABRIC_RAG_LLM_URL": stub, "MLFABRIC_RAG_LLM_MODEL": "stub-model",
                     "MLFABRIC_RAG_LLM_KEY": "sk-test"})
    assert r.code == 0, r.err
    a = r.json()
    assert a["mode"] == "generated" and a["answer"].startswith("Per [1]: ")
    assert "ops@corp.example" not in a["answer"] and "[EMAIL]" in a["answer"]
    [call] = _Stub.seen
    assert call["path"] == "/v1/chat/completions" and call["auth"] == "Bearer sk-test"
    assert call["body"]["model"] == "stub-model"
    sent = call["body"]["messages"][-1]["content"]
    assert q in sent and "[1] " in sent
    assert not [p["value"] for p in built.truth["pii"] if p["value"] in sent]
    bad = run_cli(built.home, "rag", "query", q, "--volume", "idx", "--llm-url", stub,
                  "--llm-model", "broken")
    assert bad.code == 1 and bad.err.startswith("error: generation endpoint")
    assert "HTTP 500" in bad.err and bad.err.count("\n") == 1


def test_scan_pii_reports_by_document_chunk_and_type(built: Built) -> None:
    r = run_cli(built.home, "--json", "rag", "scan-pii", "docs@s1")
    assert r.code == 0, r.err
    report = r.json()
    assert report["source"] == "docs@s1" and report["documents_scanned"] == 16
    for kind in rag.TYPES:
        assert report["totals"][kind] == report["affected"][kind] == 10, kind
    one = report["documents"][0]
    assert sum(sum(c["counts"].values()) for c in one["chunks"]) >= sum(one["counts"].values())
    assert {p["document"] for p in report["problems"]} == set(BAD) - {"bad/huge.md"}
    indexed = run_cli(built.home, "--json", "rag", "scan-pii", "--volume", "idx").json()
    info = rag.show_index(volume="idx", home=built.home)  # as found when ingested
    assert indexed["source"] == info.source and indexed["totals"] == info.pii
    assert indexed["totals"]["iban"] == indexed["affected"]["iban"] >= 9


def test_bad_requests_are_one_line_errors(built: Built) -> None:
    h = built.home
    before = rag.show_index(volume="idx", home=h).to_dict()
    for args, words in [
            (["ingest", "docs@nope", "--volume", "idx"], "snapshot 'docs@nope' not found"),
            (["ingest", "docs@s1", "--volume", "idx", "--redact", "blur"], "redaction mode"),
            (["ingest", "docs@s1", "--volume", "idx", "--refuse", "passport"], "PII type"),
            (["ingest", "docs@s1", "--volume", "docs"], "source's own volume"),
            (["query", "anything", "--volume", "idx", "--index", "none"], "not found"),
            (["eval", "--truth", "/nonexistent.json", "--volume", "idx"], "truth file")]:
        r = run_cli(h, "rag", *args)
        assert r.code == 1 and r.err.startswith("error: ") and words in r.err, (args, r.err)
        assert r.err.count("\n") == 1
    assert rag.show_index(volume="idx", home=h).to_dict() == before


def test_rest_rows_and_the_dashboard_page(built: Built) -> None:
    server = start_server(Path(built.home))
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=120,
                          headers={"Authorization": f"Bearer {server.token}"}) as api:
            _check_rest(api, server.url, built)
    finally:
        assert server.stop() == 0, "".join(server.lines)


def _check_rest(api: httpx.Client, url: str, built: Built) -> None:
    apps = {a["name"]: a for a in api.get("/apps").json()}
    assert apps["rag"]["page"] == "/apps/rag/"
    assert "POST /api/v1/rag/indexes/{index}/ask" in apps["rag"]["routes"]
    page = httpx.get(f"{url}/apps/rag/")
    assert page.status_code == 200 and 'data-testid="citations"' in page.text
    assert "/dashboard/appkit.js" in page.text
    [listed] = [i for i in api.get("/rag/indexes", params={"volume": "idx"}).json()
                if i["name"] == "default"]
    assert listed == rag.show_index(volume="idx", home=built.home).to_dict()
    report = api.get("/rag/indexes/default/pii", params={"volume": "idx"}).json()
    assert report["totals"] == listed["pii"] and report["documents"]
    # the query box's route is served (its answers, tested above in process, would cost
    # the server a model load here)
    assert "/api/v1/rag/indexes/{index}/ask" in httpx.get(f"{url}/openapi.json").json()["paths"]
    refused = api.post("/rag/indexes/default/ask", json={"volume": "idx", "question": " "})
    assert refused.status_code == 400 and "question is empty" in refused.text
    missing = api.get("/rag/indexes/nope", params={"volume": "idx"})
    assert missing.status_code == 404
    assert httpx.get(f"{url}/api/v1/rag/indexes",
                     params={"volume": "idx"}).status_code == 401
