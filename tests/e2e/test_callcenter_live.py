"""The call-center live view end to end: a platform server on loopback serving the app's
REST rows and dashboard page, ``mlfabric callcenter stream`` playing a call in real time
and posting each sentence as it ends, and headless Debian Chromium watching the page."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlfabric.apps.callcenter import audio
from mlfabric.apps.callcenter.sentiment import vader_label
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, shot
from tests.helpers import MLFABRIC
from tests.server import Server, start_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SAID = (("my refund came through the same day", "positive"),
        ("i was billed twice for the same order", "negative"),
        ("let me check the delivery status for you", "neutral"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("callcenter-live") / "home"
    srv = start_server(home)
    try:
        with srv.client() as admin:
            for name in ("cc-a", "cc-b"):
                assert admin.post("/projects", json={"name": name, "quota": 1}
                                  ).status_code == 200
        yield srv
    finally:
        assert srv.stop() == 0, "".join(srv.lines)


def _sentence(agent: str, call: str, index: int, text: str, label: str,
              **more: object) -> dict[str, object]:
    return {"project": "cc-a", "agent": agent, "call": call, "index": index, "text": text,
            "label": label, **more}


def test_rest_rows_keep_per_agent_history(server: Server) -> None:
    ours = {"project": "cc-a"}
    with server.client() as c:
        for i, (text, label) in enumerate(SAID):
            r = c.post("/callcenter/sentences", json=_sentence(
                "agent-07", "rest-1", i, text, label, start=2.0 * i, end=2.0 * i + 1.5))
            assert r.status_code == 200, r.text
        c.post("/callcenter/sentences", json=_sentence("agent-08", "rest-2", 0, "thanks",
                                                       "positive"))
        again = c.post("/callcenter/sentences", json=_sentence("agent-07", "rest-1", 0, "x",
                                                               "neutral"))
        assert again.status_code == 409
        wrong = c.post("/callcenter/sentences", json=_sentence("agent-08", "rest-1", 5, "x",
                                                               "neutral"))
        assert wrong.status_code == 400 and "belongs to agent 'agent-07'" in wrong.text
        bad = c.post("/callcenter/sentences", json=_sentence("agent-07", "rest-1", 9, "x",
                                                             "happy"))
        assert bad.status_code == 400 and "label must be one of" in bad.text
        agents = {a["agent"]: a for a in c.get("/callcenter/agents", params=ours).json()}
        assert agents["agent-07"]["by_label"] == {"negative": 1, "neutral": 1, "positive": 1}
        assert (agents["agent-07"]["calls"], agents["agent-08"]["calls"]) == (1, 1)
        calls = c.get("/callcenter/calls", params={**ours, "agent": "agent-07"}).json()
        assert [x["call"] for x in calls] == ["rest-1"]
        assert calls[0]["trend"] == [1.0, 0.0, 0.0]
        later = c.get("/callcenter/calls/rest-1/sentences", params={**ours, "after": 0}).json()
        assert [s["index"] for s in later] == [1, 2] and later[0]["label"] == "negative"
        with c.stream("GET", "/callcenter/calls/rest-1/events",
                      params={**ours, "after": 1, "idle": 0.3}) as events:
            body = "".join(events.iter_text())
        data = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
        assert [d["index"] for d in data] == [2]
        apps = {a["name"]: a for a in c.get("/apps").json()}
        assert apps["callcenter"]["page"] == "/apps/callcenter/"
        assert "POST /api/v1/callcenter/sentences" in apps["callcenter"]["routes"]
    assert httpx.get(f"{server.api}/callcenter/agents", params=ours).status_code == 401
    page = httpx.get(f"{server.url}/apps/callcenter/")
    assert page.status_code == 200 and 'data-testid="cc-agents"' in page.text
    assert httpx.get(f"{server.url}/apps/callcenter/callcenter.js").status_code == 200


def test_a_member_of_another_project_reaches_none_of_its_calls(server: Server) -> None:
    with server.client() as admin:
        r = admin.post("/callcenter/sentences", json=_sentence("agent-05", "secret-1", 0,
                                                               "my card number", "neutral"))
        assert r.status_code == 200, r.text
        bob = admin.post("/tokens", json={"user": "bob", "projects": ["cc-b"]}).json()["secret"]
    theirs = {"project": "cc-a"}
    with server.client(bob) as c:
        for method, path, args in (
                ("GET", "/callcenter/agents", theirs),
                ("GET", "/callcenter/calls", theirs),
                ("GET", "/callcenter/calls/secret-1/sentences", theirs),
                ("GET", "/callcenter/calls/secret-1/events", {**theirs, "idle": 0.3}),
                ("POST", "/callcenter/sentences", _sentence("agent-05", "secret-1", 1,
                                                            "planted", "neutral"))):
            send = {"params": args} if method == "GET" else {"json": args}
            resp = c.request(method, path, **send)
            assert resp.status_code == 403, (path, resp.text)
            assert resp.json()["error"]["message"] == \
                "user 'bob' is not a member of project 'cc-a'"
        # bob's own (and only) project is filled in for him: it has no calls of cc-a's
        assert c.get("/callcenter/agents").json() == []
        assert c.get("/callcenter/calls/secret-1/sentences").json() == []
        mine = c.post("/callcenter/sentences", json={
            "agent": "agent-05", "call": "secret-1", "index": 0, "text": "hello",
            "label": "neutral"})
        assert mine.status_code == 200, mine.text
    with server.client() as admin:
        said = admin.get("/callcenter/calls/secret-1/sentences", params=theirs).json()
        assert [(s["index"], s["text"]) for s in said] == [(0, "my card number")]
        refused = admin.get("/callcenter/calls")
        assert refused.status_code == 400 and "project" in refused.text


def _call_files(folder: Path) -> list[str]:
    files = []
    for i, (text, _) in enumerate(SAID[:2]):  # two sentences: the test plays them in real time
        samples = audio.synthesize(text, voice=audio.VOICES[i % 2])
        path = folder / f"{i}.mp3"
        audio.encode_mp3(samples, path)
        files.append(str(path))
    return files


def test_streamed_call_appears_live_in_chromium(server: Server, tmp_path: Path) -> None:
    files = _call_files(tmp_path)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/#token={server.token}")  # the dashboard signs in
            page.wait_for_function("localStorage.getItem('mlfabric.token') !== null")
            page.goto(f"{server.url}/apps/callcenter/?project=cc-a&call=live-1")
            expect(page.get_by_test_id("cc-live-call")).to_have_text("live-1")
            expect(page.get_by_test_id("cc-project")).to_have_value("cc-a")
            env = {**os.environ, "MLFABRIC_SERVER": server.url,
                   "MLFABRIC_TOKEN": server.token or ""}
            started = time.time()
            streamer = subprocess.Popen(
                [MLFABRIC, "--json", "callcenter", "stream", "-p", "cc-a", "--agent", "agent-01",
                 "--call", "live-1", *files], env=env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            # the first sentence shows while the call is still playing
            expect(page.get_by_test_id("cc-sentence-0")).to_be_visible(timeout=30_000)
            assert streamer.poll() is None
            out, err = streamer.communicate(timeout=60)
            assert streamer.returncode == 0, err
            posted = [json.loads(line) for line in out.splitlines()]
            assert [e["index"] for e in posted] == [0, 1]
            for e in posted:
                item = page.get_by_test_id(f"cc-sentence-{e['index']}")
                expect(item).to_have_attribute("data-label", e["label"])
                expect(item).to_contain_text(e["text"])
            # without --model the stock model labels what the recognizer heard
            assert all(e["label"] == vader_label(e["text"]) for e in posted)
            assert "billed twice" in posted[1]["text"]
            expect(page.get_by_test_id("cc-agent-agent-01")).to_contain_text("agent-01")
            expect(page.get_by_test_id("cc-call-live-1")).to_be_visible()
            lags = [float(page.get_by_test_id(f"cc-sentence-{e['index']}")
                          .get_attribute("data-shown-at")) - e["heard_at"] for e in posted]
            # real-time playback: each sentence was heard after the call began
            assert all(e["heard_at"] > started for e in posted)
            assert all(lag > 0 for lag in lags)
            print(f"end of sentence audio -> shown in Chromium: {_summary(lags)}")
            shot(page, "callcenter-live")
            assert errors == [], errors
        finally:
            browser.close()


def _summary(lags: list[float]) -> str:
    return (f"max {max(lags):.3f} s, p95 {float(np.percentile(lags, 95)):.3f} s over "
            f"{len(lags)} sentences")
