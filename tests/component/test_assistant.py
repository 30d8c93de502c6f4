"""The retail assistant with its real parts: the NLU trained on the generated corpus, the
seeded SQLite fulfillment database, HTTP services on loopback, the platform server and
the retraining loop with a scheduler job on the local runtime. One trained home for the
module; the retraining test, which changes the live model, runs last."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import sqlalchemy as sa

from mlfabric.apps import assistant
from tests.helpers import run_cli
from tests.server import start_server

pytestmark = pytest.mark.component

LOCAL = {"MLFABRIC_RUNTIME": "local"}
ERROR_REPLIES = ("Sorry, I did not understand", "I'm not sure what you mean")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("assistant") / "home"
    home.mkdir()
    r = run_cli(home, "assistant", "setup", "--per-intent", "60", "--json")
    assert r.code == 0, r.err
    return home


def db(home: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{home / 'apps' / 'assistant' / 'fulfillment.db'}")


def chat(home: Path, *lines: str) -> list[str]:
    """A scripted conversation through ``mlfabric assistant chat`` (stdin): the replies."""
    r = run_cli(home, "assistant", "chat", "--user", "story", input="".join(
        f"{x}\n" for x in lines))
    assert r.code == 0, r.err
    return [x.removeprefix("assistant> ") for x in r.out.splitlines()]


def test_held_out_metrics_are_reported(trained: Path, tmp_path: Path) -> None:
    versions = run_cli(trained, "assistant", "versions", "--json").json()
    assert versions[0]["action"] == "setup" and versions[0]["snapshot"] == "v1"
    m = versions[0]["metrics"]
    assert m["intent_accuracy"] >= 0.9 and m["slot_f1"] >= 0.9, m
    corpus = tmp_path / "held-out"
    assert run_cli(trained, "assistant", "make-corpus", str(corpus), "--per-intent", "30",
                   "--seed", "7").code == 0
    model = run_cli(trained, "volume", "path", "assistant").out.strip() + "/model"
    r = run_cli(trained, "assistant", "eval", "--model", model, "--data", str(corpus))
    assert r.code == 0, r.err
    assert r.out.startswith("intent accuracy 0.9") or r.out.startswith("intent accuracy 1.0")
    assert " slot F1 " in r.out and " sentence accuracy " in r.out


def test_story_follow_up_question_and_context_kept(trained: Path) -> None:
    with db(trained).connect() as c:
        w = c.execute(sa.text("select condition, temperature_c from weather "
                              "where city = 'berlin'")).one()
    replies = chat(trained, "what's the weather like", "berlin", "is there a shop nearby")
    assert replies[1] == "Which city are you in?"  # the follow-up for the missing location
    assert replies[2] == f"In berlin it is {w.condition} and {w.temperature_c} degrees Celsius."
    assert replies[3].startswith("The nearest store to berlin is Fabric Store Mitte")
    assert len(replies) == 4  # the store came without asking again: the location was kept


def test_story_price_and_store_answers_come_from_the_database(trained: Path) -> None:
    with db(trained).begin() as c:
        c.execute(sa.text("update items set price_cents = 1234 where name = 'hoodie'"))
        c.execute(sa.text("update stores set hours = 'day and night' "
                          "where name = 'Fabric Store Congress'"))
    replies = chat(trained, "how much does the hoodie cost",
                   "find a store near austin")
    assert replies[1] == "hoodie costs $12.34."
    assert replies[2] == ("The nearest store to austin is Fabric Store Congress at "
                          "500 Congress Ave, Austin, open day and night.")
    replies = chat(trained, "what is the price of unicorn slippers")
    assert replies[1].startswith("Sorry, I could not find that price: we do not sell")


def test_story_unknown_intent_goes_to_the_error_flow(trained: Path) -> None:
    replies = chat(trained, "qwerty zxcvb asdf", "", "x" * 600, "how much are the socks")
    assert replies[1].startswith(ERROR_REPLIES)
    assert replies[2] == "Please type a question."
    assert replies[3].startswith("That message is too long (600 characters")
    assert replies[4] == "socks costs $7.99."  # the conversation went on


class _Service(http.server.BaseHTTPRequestHandler):
    delay = 0.0
    fail_first = 0
    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).calls.append(self.path)
        if len(self.calls) <= self.fail_first:
            self.send_response(503)
            self.end_headers()
            return
        time.sleep(self.delay)
        body = b'{"weather_condition": "stormy", "temperature": 3}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def weather_service() -> Iterator[tuple[str, type[_Service]]]:
    handler = type("Handler", (_Service,), {"calls": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda *a: None  # the client gave up on a slow answer: expected
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/weather", handler
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_service_is_retried_and_timed_out(weather_service, tmp_path: Path) -> None:
    url, handler = weather_service
    seeded = assistant.seed_database(f"sqlite:///{tmp_path / 'f.db'}")
    from mlfabric.apps.assistant.fulfillment import build

    fulfil = build(seeded, {"weather": {"url": url}}, timeout_s=0.5, retries=2)
    handler.fail_first = 1  # unavailable once, then it answers
    assert fulfil("weather", {"location": "oslo"}) == {"weather_condition": "stormy",
                                                       "temperature": 3}
    assert handler.calls == ["/weather?location=oslo"] * 2
    handler.calls.clear()
    handler.fail_first, handler.delay = 0, 2.0
    with pytest.raises(assistant.AdapterError, match=r"did not answer within 0\.5 s"):
        fulfil("weather", {"location": "oslo"})
    assert len(handler.calls) == 3  # the first try and two retries
    assert fulfil("price", {"item": "socks"})["item_price"] == "7.99"  # SQL still answers


def test_rest_sessions_keep_context_per_user_and_the_page_is_served(trained: Path) -> None:
    server = start_server(trained)
    try:
        with server.client() as api:
            a = api.post("/assistant/sessions", json={"user": "ann"}).json()
            b = api.post("/assistant/sessions", json={"user": "bob"}).json()
            assert a["replies"][0].startswith("Hi, I'm the store assistant")
            t = api.post("/assistant/chat", json={"session": a["session"],
                                                  "text": "weather in tokyo"}).json()
            assert t["replies"][0].startswith("In tokyo it is")
            assert t["intent"] == "weather" and t["slots"] == {"location": "tokyo"}
            t = api.post("/assistant/chat", json={"session": b["session"],
                                                  "text": "what's the weather"}).json()
            assert t["replies"] == ["Which city are you in?"]  # ann's city is not bob's
            t = api.post("/assistant/chat", json={"session": a["session"],
                                                  "text": "where is the nearest store"})
            assert t.json()["replies"][0].startswith("The nearest store to tokyo is")
            from mlfabric.apps.assistant.voice import synthesize

            spoken = base64.b64encode(synthesize("how much are the socks")).decode()
            v = api.post("/assistant/voice", json={"session": a["session"], "audio": spoken})
            assert v.status_code == 200, v.text
            assert v.json()["turn"]["intent"] == "item_price"
            assert base64.b64decode(v.json()["audio"])[:4] == b"RIFF"  # the spoken reply
            missing = api.post("/assistant/chat", json={"session": "nope", "text": "hi"})
            assert missing.status_code == 404
            assert "session 'nope' not found" in missing.text
        page = httpx.get(f"{server.url}/apps/assistant/")
        assert page.status_code == 200 and "/dashboard/appkit.js" in page.text
        assert "/api/v1/assistant/chat" in page.text
        listed = httpx.get(f"{server.api}/apps",
                           headers={"Authorization": f"Bearer {server.token}"}).json()
        mine = next(x for x in listed if x["name"] == "assistant")
        assert mine["page"] == "/apps/assistant/"
    finally:
        assert server.stop() == 0, "".join(server.lines)


def test_voice_in_and_out(trained: Path, tmp_path: Path) -> None:
    from mlfabric.apps.assistant.voice import synthesize, transcribe

    question = tmp_path / "question.wav"
    question.write_bytes(synthesize("what is the weather in paris"))  # a flite voice asks
    reply = tmp_path / "reply.wav"
    r = run_cli(trained, "assistant", "voice", str(question), "--out", str(reply), "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert "weather in paris" in out["transcript"]  # PocketSphinx, its bundled model
    assert out["turn"]["replies"][0].startswith("In paris it is")
    assert "paris" in transcribe(reply.read_bytes())  # the spoken reply says it
    bad = run_cli(trained, "assistant", "voice", str(tmp_path / "missing.wav"))
    assert bad.code == 1 and bad.err.startswith("error: cannot read")


def _label(path: Path, truth: dict[str, assistant.Example]) -> None:
    """The annotator: rows of the new requests get their intent and tags."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        e = truth.get(row["tokens"])
        if e is not None:
            row["intent"], row["tags"] = e.intent, " ".join(e.tags)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_retraining_on_history_learns_new_intents_and_refuses_a_worse_candidate(
        trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFABRIC_RUNTIME", "local")
    new = assistant.new_requests(per_intent=24, seed=5)
    truth = {" ".join(e.tokens): e for e in new}
    replies = chat(trained, *[e.text for e in new], "how much are the jeans")
    assert sum(r.startswith(ERROR_REPLIES) for r in replies) >= len(new) // 2  # not understood
    csv_path = tmp_path / "today.csv"
    r = run_cli(trained, "assistant", "export", "--out", str(csv_path), "--json")
    assert r.code == 0, r.err and r.json()["turns"] >= len(new) + 1
    _label(csv_path, truth)
    good = tmp_path / "nemo-good"
    conv = run_cli(trained, "assistant", "to-nemo", str(csv_path), "--out", str(good), "--json")
    assert conv.code == 0, conv.err
    assert {"best_rated_place", "cheapest_item"} <= set(conv.json()["intents"])

    assert run_cli(trained, "node", "add", "n1", "--gpus", "1", env=LOCAL).code == 0
    assert run_cli(trained, "project", "create", "nlu", "--quota", "1", env=LOCAL).code == 0
    r = run_cli(trained, "assistant", "retrain", "--data", str(good), "-p", "nlu", "--json",
                env=LOCAL, timeout=300)
    assert r.code == 0, r.err
    report = r.json()
    table = {x["intent"]: (x["live"], x["candidate"]) for x in report["intents"]}
    for intent in ("best_rated_place", "cheapest_item"):  # before / after
        assert table[intent][0] == 0.0 and table[intent][1] >= 0.75, table
    assert report["promoted"] and report["snapshot"] == "v2" and report["job"]
    job = run_cli(trained, "job", "get", report["job"], "-p", "nlu", "--json", env=LOCAL)
    assert job.json()["state"] == "Succeeded"
    t = assistant.chat(assistant.open_session("x", home=str(trained)).session,
                       "cheapest rain boots", home=str(trained))
    assert (t.intent, t.slots) == ("cheapest_item", {"item": "rain boots"})

    # a worse candidate: a training split cut to a few sentences, the same held-out split
    train = assistant.read_split(good, "train")
    bad = assistant.write_nemo(tmp_path / "nemo-bad", {
        "train": [e for e in train if e.intent in ("weather", "item_price")][:12],
        "test": assistant.read_split(good, "test")})
    r = run_cli(trained, "assistant", "retrain", "--data", str(bad), "--json")
    assert r.code == 0, r.err
    worse = r.json()
    assert not worse["promoted"] and worse["snapshot"] is None, worse
    assert "lower intent_accuracy" in worse["reason"]
    assert [v["snapshot"] for v in run_cli(trained, "assistant", "versions", "--json")
            .json()] == ["v1", "v2"]  # the live model stayed v2

    assert run_cli(trained, "assistant", "rollback").out.strip() == "rolled back to v1"
    t = assistant.chat(assistant.open_session("y", home=str(trained)).session,
                       "cheapest rain boots", home=str(trained))
    assert t.intent != "cheapest_item"



def test_an_idle_session_expires_and_goes_when_a_session_opens(trained: Path) -> None:
    from mlfabric.errors import InvalidInput, NotFound

    h = str(trained)
    bot = assistant.Assistant(h)  # the settings as they are now: 24 h
    old, fresh = bot.open("cid"), bot.open("dee")
    conversations = sa.create_engine(f"sqlite:///{trained / 'apps' / 'assistant' / 'assistant.db'}")
    with conversations.begin() as c:  # cid's last turn was 25 hours ago
        c.execute(sa.text("UPDATE sessions SET updated_at = updated_at - 25 * 3600 "
                          "WHERE id = :id"), {"id": old.session})
    with pytest.raises(NotFound, match=f"session '{old.session}' not found"):
        bot.turn(old.session, "weather in tokyo")
    assert bot.turn(fresh.session, "weather in tokyo").replies[0].startswith("In tokyo it is")
    later = bot.open("eve")
    with conversations.connect() as c:
        ids = {r[0] for r in c.execute(sa.text("SELECT id FROM sessions"))}
    assert old.session not in ids and {fresh.session, later.session} <= ids
    conf = trained / "apps" / "assistant" / "config.yaml"
    assert not conf.exists()
    try:
        conf.write_text("session_idle_hours: 0\n")
        with pytest.raises(InvalidInput, match="session_idle_hours must be a positive"):
            assistant.Assistant(h)
        conf.write_text("session_idle_hours: 0.5\n")
        assert assistant.Assistant(h).idle_s == 1800
    finally:
        conf.unlink(missing_ok=True)
