"""The dashboard end to end: ``mlfabric server start --demo`` on loopback, headless Debian
Chromium driven by Playwright, and the CLI working on the same home.

Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.component.test_serving import processes_of, wait_for
from tests.component.test_serving_models import write_tail
from tests.helpers import install_test_app, run_cli
from tests.server import Server, start_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
LIVE_WITHIN_MS = 3000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One seeded demo server for the module (the tests add to it, never remove), with the
    test app ``hello`` installed next to the shipped ones."""
    base = tmp_path_factory.mktemp("dashboard")
    home = base / "home"
    home.mkdir()
    srv = start_server(home, demo=True, env=install_test_app(base / "site"))
    try:
        assert srv.token, "the first start of a home prints an admin token"
        yield srv
    finally:
        assert srv.stop() == 0, "".join(srv.lines)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian chromium is not installed at {CHROMIUM}")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh profile's page; fails the test on any uncaught script error or on a
    request that leaves the server (the dashboard must work without internet)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
    pg = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: None if r.url.startswith((server.url, "data:"))
          else foreign.append(r.url))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], errors
    assert foreign == [], foreign


@pytest.fixture(autouse=True)
def _local_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI in these tests works on the catalog directly, next to the server."""
    monkeypatch.delenv("MLFABRIC_SERVER", raising=False)
    monkeypatch.delenv("MLFABRIC_TOKEN", raising=False)


def cli_json(server: Server, *args: str) -> Any:
    r = run_cli(server.home, "--json", *args)
    assert r.code == 0, r.err
    return json.loads(r.out)


def api(server: Server, path: str) -> Any:
    """What the server says (the same library calls as the CLI, without its start-up)."""
    with server.client() as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def open_dashboard(page: Any, server: Server, tab: str = "overview") -> None:
    """Open the printed dashboard URL (token in the fragment), then a tab."""
    page.goto(f"{server.url}/#token={server.token}")
    expect(page.get_by_test_id("stat-nodes")).not_to_have_text("–")
    if tab != "overview":
        page.get_by_test_id(f"tab-{tab}").click()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ------------------------------------------------------------------ scenarios


def test_overview_shows_the_seeded_cluster(page: Any, server: Server) -> None:
    open_dashboard(page, server)
    assert "token=" not in page.url, "the token must leave the address bar"
    assert page.evaluate("localStorage.getItem('mlfabric.token')") == server.token
    nodes = api(server, "/nodes")
    expect(page.get_by_test_id("stat-nodes")).to_have_text(str(len(nodes)))
    assert [n["runtime"] for n in nodes] == ["local", "sim", "sim"]  # this machine, and two
    total = sum(n["gpus"] for n in nodes)
    assert total - nodes[0]["gpus"] == 16
    expect(page.get_by_test_id("stat-gpus-total")).to_have_text(str(total))
    allocated = sum(n["allocated"] for n in nodes)
    expect(page.get_by_test_id("stat-gpus-allocated")).to_have_text(num(allocated))
    expect(page.get_by_test_id("stat-gpus-idle")).to_have_text(num(total - allocated))
    jobs = api(server, "/jobs")
    expect(page.get_by_test_id("stat-jobs-running")).to_have_text(
        str(sum(j["state"] == "Running" for j in jobs)))
    expect(page.get_by_test_id("stat-jobs-pending")).to_have_text(
        str(sum(j["state"] == "Pending" for j in jobs)))
    for p in api(server, "/projects"):
        bar = page.get_by_test_id(f"project-bar-{p['name']}")
        expect(bar).to_be_visible()
        expect(bar).to_have_attribute("data-quota", num(p["quota"]))
        expect(bar).to_have_attribute("data-allocated", num(p["allocated"]))
        expect(page.get_by_test_id(f"project-numbers-{p['name']}")).to_have_text(
            f"{num(p['allocated'])} / {num(p['quota'])} GPUs")
    for n in nodes:
        expect(page.get_by_test_id(f"node-{n['name']}").locator(".gpu")).to_have_count(n["gpus"])
    # The chart grows with the sampler, without a reload.
    chart = page.get_by_test_id("allocation-chart")
    first = int(chart.get_attribute("data-samples") or 0)
    expect(chart).not_to_have_attribute("data-samples", str(first), timeout=5000)
    expect(chart.locator("path[data-project='team-a']")).to_have_count(1)
    shot(page, "overview")


def test_job_submitted_through_the_cli_appears_live(page: Any, server: Server) -> None:
    open_dashboard(page, server, "jobs")
    expect(page.get_by_test_id("job-row-team-a/resnet-a1")).to_be_visible()
    page.evaluate("window.__sameDocument = 42")
    r = run_cli(server.home, "job", "submit", "live-e2e", "-p", "team-a", "-g", "2",
                "--", "python", "train.py")
    assert r.code == 0, r.err
    submitted = time.monotonic()
    row = page.get_by_test_id("job-row-team-a/live-e2e")
    expect(row).to_be_visible(timeout=LIVE_WITHIN_MS)
    expect(row.get_by_test_id("job-gpus")).to_have_text("2", timeout=LIVE_WITHIN_MS)
    assert time.monotonic() - submitted < LIVE_WITHIN_MS / 1000 + 0.5
    assert page.evaluate("window.__sameDocument") == 42, "the page was reloaded"
    job = api(server, "/jobs/live-e2e?project=team-a")
    expect(row).to_have_attribute("data-state", job["state"])
    if job["state"] == "Running":
        node = job["placements"][0]["node"]
        expect(row.get_by_test_id("job-node")).to_contain_text(node)
    shot(page, "jobs-live")
    # The overview counts it as well, still without a reload.
    page.get_by_test_id("tab-overview").click()
    expect(page.get_by_test_id("project-bar-team-a")).to_have_attribute(
        "data-allocated", num(api(server, "/projects/team-a")["allocated"]))


def test_pending_job_shows_why(page: Any, server: Server) -> None:
    with server.client() as c:
        r = c.post("/jobs", json={"name": "too-big", "project": "team-b", "gpus": 12})
    assert r.status_code == 200, r.text
    open_dashboard(page, server, "jobs")
    pending = [j for j in api(server, "/jobs") if j["state"] == "Pending"]
    assert any(j["name"] == "too-big" for j in pending)
    for j in pending:
        row = page.get_by_test_id(f"job-row-{j['ref']}")
        expect(row).to_have_attribute("data-state", "Pending")
        expect(row.get_by_test_id("job-reason")).to_have_text(j["reason"])
    expect(page.get_by_test_id("job-row-team-b/too-big").get_by_test_id("job-reason")
           ).to_contain_text("12 GPUs")
    page.get_by_test_id("jobs-state").select_option("Pending")
    expect(page.get_by_test_id("jobs-table").locator("tr")).to_have_count(len(pending))
    page.get_by_test_id("job-row-team-b/too-big").click()
    expect(page.get_by_test_id("logs-panel")).to_be_visible()
    expect(page.get_by_test_id("logs-output")).to_contain_text("pending")
    shot(page, "jobs-pending")


def test_snapshot_created_from_the_page_is_in_the_cli(page: Any, server: Server) -> None:
    open_dashboard(page, server, "volumes")
    page.get_by_test_id("snapshot-create-demo-data").click()
    expect(page.get_by_test_id("modal")).to_be_visible()
    page.get_by_test_id("modal-input").fill("from-dashboard")
    shot(page, "snapshot-dialog")
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("modal")).to_be_hidden()
    expect(page.get_by_test_id("snapshot-row-demo-data@from-dashboard")).to_be_visible()
    expect(page.get_by_test_id("toast").first).to_contain_text("demo-data@from-dashboard")
    names = [s["name"] for s in cli_json(server, "snapshot", "list", "demo-data")]
    assert "from-dashboard" in names
    shot(page, "volumes")


def test_clone_and_restore_from_the_page(page: Any, server: Server) -> None:
    volume = Path(api(server, "/volumes/demo-data")["path"])
    sample = volume / "train" / "sample-000.txt"
    sample.write_text("changed after the snapshots\n")
    open_dashboard(page, server, "volumes")
    page.get_by_test_id("snapshot-clone-demo-data@baseline").click()
    page.get_by_test_id("modal-input").fill("baseline-copy")
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("volume-baseline-copy")).to_be_visible()
    clone = api(server, "/volumes/baseline-copy")
    assert clone["origin"] == "demo-data@baseline"
    assert (Path(clone["path"]) / "train" / "sample-000.txt").read_text() == \
        "train sample 0\n" * 10
    # A name the library refuses keeps the dialog open with its message.
    page.get_by_test_id("snapshot-clone-demo-data@baseline").click()
    page.get_by_test_id("modal-input").fill("Not_A_Name")
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("modal-error")).to_contain_text("Not_A_Name")
    page.get_by_test_id("modal-cancel").click()
    expect(page.get_by_test_id("modal")).to_be_hidden()

    page.get_by_test_id("snapshot-restore-demo-data@baseline").click()
    expect(page.get_by_test_id("modal-message")).to_contain_text("safety snapshot")
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("toast").first).to_contain_text("restored demo-data@baseline")
    assert sample.read_text() == "train sample 0\n" * 10
    shot(page, "volumes-restored")


def test_datasets_caches_and_workspaces_views(page: Any, server: Server) -> None:
    with server.client() as c:  # the demo cached it (a miss that fetched); now a hit
        r = c.post("/caches", json={"ref": "demo-set:v1"})
        assert r.status_code == 200, r.text
    open_dashboard(page, server, "data")
    expect(page.get_by_test_id("cache-entry-default/demo-set:v1")).to_be_visible()
    for ds in api(server, "/datasets"):
        expect(page.get_by_test_id(f"dataset-{ds['name']}")).to_be_visible()
        for v in api(server, f"/datasets/{ds['name']}/versions"):
            expect(page.get_by_test_id(f"dataset-version-{v['ref']}")).to_be_visible()
    expect(page.get_by_test_id("dataset-version-demo-set:v1")).to_contain_text("default")
    stats = api(server, "/caches/stats")
    assert [st["hit_ratio"] for st in stats] == [0.5]
    for st in stats:
        pool = page.get_by_test_id(f"cache-pool-{st['pool']}")
        expect(pool).to_be_visible()
        expect(pool.get_by_test_id(f"cache-hit-ratio-{st['pool']}")).to_have_text("50%")
        assert float(pool.get_attribute("data-usage") or "nan") == st["usage_ratio"]
    shot(page, "datasets-caches")
    page.get_by_test_id("tab-workspaces").click()
    table_or_note = page.get_by_test_id("workspaces-table").locator("tr").or_(
        page.get_by_test_id("workspaces-empty"))
    expect(table_or_note.first).to_be_visible()
    shot(page, "workspaces")


def test_sign_in_form_and_bad_token(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-token").fill("mlf_not-a-real-token")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("login-error")).not_to_be_empty()
    page.get_by_test_id("login-token").fill(server.token or "")
    page.get_by_test_id("login-submit").click()
    total = str(api(server, "/overview")["gpus"]["total"])
    expect(page.get_by_test_id("stat-gpus-total")).to_have_text(total)
    page.reload()  # the token is remembered
    expect(page.get_by_test_id("stat-gpus-total")).to_have_text(total)
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_overview_api_shows_members_only_their_projects(server: Server) -> None:
    with server.client() as admin:
        member = admin.post("/tokens", json={"user": "alice", "projects": ["team-b"]}
                            ).json()["secret"]
        everything = admin.get("/overview").json()
    with server.client(member) as alice:
        mine = alice.get("/overview").json()
        later = alice.get("/overview", params={"since": mine["history"][-1]["time"]}).json()
    assert {p["name"] for p in everything["projects"]} == {"team-a", "team-b", "demo"}
    assert [p["name"] for p in mine["projects"]] == ["team-b"]
    assert mine["gpus"]["total"] == everything["gpus"]["total"] >= 16
    assert all(set(s["allocated"]) <= {"team-b"} for s in mine["history"])
    assert all(s["time"] > mine["history"][-1]["time"] for s in later["history"])
    owners = {p for n in mine["nodes"] for d in n["devices"] for p in d["projects"]}
    assert owners <= {"team-b"}
    assert httpx.get(server.api + "/overview").status_code == 401
    page_html = httpx.get(server.url + "/").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page_html), "no CDN"


def test_live_logs_of_a_running_job(page: Any, server: Server) -> None:
    """A real process on a local-runtime node in its own pool: its log streams in."""
    script = ("import time\n"
              "for i in range(8):\n"
              "    print(f'step {i} loss {1 / (i + 1):.3f}', flush=True)\n"
              "    time.sleep(0.4)\n")
    with server.client() as c:
        for path, body in (("/nodes", {"name": "cpu-1", "gpus": 1, "pool": "cpu",
                                       "runtime": "local"}),
                           ("/projects", {"name": "team-c", "quota": 1, "pool": "cpu"}),
                           ("/jobs", {"name": "logger", "project": "team-c", "gpus": 1,
                                      "command": [sys.executable, "-c", script]})):
            r = c.post(path, json=body)
            assert r.status_code == 200, r.text
    assert r.json()["state"] == "Running", r.json()
    open_dashboard(page, server, "jobs")
    page.get_by_test_id("jobs-state").select_option("")
    page.get_by_test_id("job-row-team-c/logger").click()
    out = page.get_by_test_id("logs-output")
    expect(out).to_contain_text("step 0 loss 1.000")
    shot(page, "jobs-logs")
    expect(out).to_contain_text("step 7 loss 0.125", timeout=15000)
    expect(out).to_contain_text("stream ended", timeout=15000)
    expect(page.get_by_test_id("job-row-team-c/logger")).to_have_attribute(
        "data-state", "Succeeded", timeout=10000)
    expect(page.get_by_test_id("logs-state")).to_have_text("Succeeded")
    assert out.inner_text().count("step ") == 8  # streamed once, nothing lost or repeated
    expect(out).to_contain_text("stream ended")


def moment(t: str | float) -> str:
    """An API time (ISO text, or epoch seconds) as the page shows it (the browser runs in
    UTC): date and time."""
    if isinstance(t, str):
        return t[:19].replace("T", " ")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def test_dates_with_times_volume_usage_and_simulated_jobs(page: Any, server: Server) -> None:
    open_dashboard(page, server, "volumes")
    usage = api(server, "/volumes/demo-data/usage")
    line = page.get_by_test_id("volume-usage-demo-data")
    expect(line).to_have_attribute("data-files", str(usage["files"]))
    expect(line).to_have_attribute("data-bytes", str(usage["logical_bytes"]))
    expect(line).to_contain_text(f"{usage['files']} files")
    for snap in api(server, "/volumes/demo-data/snapshots"):
        expect(page.get_by_test_id(f"snapshot-row-{snap['ref']}").locator("td").nth(1)
               ).to_have_text(moment(snap["created_at"]))
    page.get_by_test_id("tab-jobs").click()
    page.get_by_test_id("jobs-state").select_option("")
    for job in api(server, "/jobs"):
        row = page.get_by_test_id(f"job-row-{job['ref']}")
        expect(row.get_by_test_id("job-submitted")).to_have_text(moment(job["submitted_at"]))
        # a simulated job says so: it is scheduled, but no process runs
        expect(row.get_by_test_id("job-simulated")).to_have_count(
            1 if job["runtime"] == "sim" else 0)
    assert api(server, "/jobs/steps?project=demo")["runtime"] == "local"
    shot(page, "jobs-simulated")


def test_inference_view(page: Any, server: Server) -> None:
    """A real Triton server on the demo's local node: its models, readiness, endpoints."""
    with server.client() as c:
        r = c.post("/volumes", json={"name": "models"})
        assert r.status_code == 200, r.text
        repo = Path(r.json()["path"])
        write_tail(repo)
        (repo / "plan" / "1").mkdir(parents=True)
        (repo / "plan" / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')
        try:
            r = c.post("/inference", json={"name": "srv", "model_repo": "models",
                                           "project": "demo", "gpus": 0.5})
            assert r.status_code == 200, r.text
            srv = r.json()
            assert srv["ready"], srv
            open_dashboard(page, server, "inference")
            row = page.get_by_test_id("inference-row-srv")
            expect(row).to_have_attribute("data-state", "ready")
            expect(page.get_by_test_id("inference-ready-srv")).to_have_text("ready")
            expect(page.get_by_test_id("inference-model-srv-tail")).to_have_attribute(
                "data-state", "READY")
            plan = page.get_by_test_id("inference-model-srv-plan")
            expect(plan).to_have_attribute("data-state", "UNAVAILABLE")
            expect(plan).to_contain_text("tensorrt_plan")
            expect(page.get_by_test_id("inference-http-srv")).to_have_text(srv["http_url"])
            expect(page.get_by_test_id("inference-endpoints-srv")).to_contain_text(
                srv["grpc_url"])
            expect(row).to_contain_text(moment(srv["created_at"]))
            shot(page, "inference")
            assert processes_of(server.home / "serving")
            assert c.delete("/inference/srv").status_code == 200
            expect(page.get_by_test_id("inference-empty")).to_be_visible()
            wait_for(lambda: not processes_of(server.home / "serving"), "tritonserver to exit")
        finally:  # after a failure: no server of this test outlives it (the platform lives on)
            for pid in processes_of(server.home / "serving"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_a_dask_cluster_job_links_its_dashboard(page: Any, server: Server) -> None:
    """A Dask cluster job (REST ``engine: dask``, no command: a service) shows its
    dashboard link on its row; the link is the live Dask dashboard."""
    with server.client() as c:
        for path, body in (("/nodes", {"name": "dask-1", "gpus": 1, "pool": "dask",
                                       "runtime": "local"}),
                           ("/projects", {"name": "team-d", "quota": 1, "pool": "dask"}),
                           ("/jobs", {"name": "cluster", "project": "team-d", "gpus": 0.5,
                                      "processes": 2, "engine": "dask"})):
            r = c.post(path, json=body)
            assert r.status_code == 200, r.text
    assert r.json()["state"] == "Running" and r.json()["engine"] == "dask", r.json()
    try:
        open_dashboard(page, server, "jobs")
        link = page.get_by_test_id("job-row-team-d/cluster").get_by_test_id(
            "job-dask-dashboard")
        expect(link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/status$"),
                                       timeout=30000)
        record = api(server, "/jobs/cluster?project=team-d")
        assert link.get_attribute("href") == record["endpoints"]["dashboard"]
        assert record["endpoints"]["scheduler"] in link.get_attribute("title")
        assert httpx.get(record["endpoints"]["dashboard"], timeout=30).status_code == 200
        shot(page, "jobs-dask")
    finally:
        with server.client() as c:
            assert c.delete("/jobs", params={"names": "cluster",
                                             "project": "team-d"}).status_code == 200


def test_apps_tab_shows_an_apps_page_signed_in(page: Any, server: Server) -> None:
    open_dashboard(page, server, "apps")
    expect(page.get_by_test_id("app-faces")).to_contain_text("no page")
    expect(page.get_by_test_id("app-hello")).to_contain_text("GET /api/v1/hello/greet")
    page.get_by_test_id("app-open-hello").click()
    expect(page.get_by_test_id("app-title")).to_have_text("hello")
    frame = page.frame_locator('[data-testid="app-frame"]')
    # the page called the app's route with the dashboard's token
    expect(frame.get_by_test_id("greeting")).to_have_text("hello, page")
    shot(page, "apps")
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("app-panel")).to_be_hidden()
    page.goto(f"{server.url}/apps/hello/")  # signed out: the page gets nothing
    expect(page.get_by_test_id("greeting")).to_have_text(
        "error: not signed in: sign in on the dashboard first")


def test_edgebench_page_reads_its_results_row_signed_in(page: Any, server: Server) -> None:
    open_dashboard(page, server, "apps")
    expect(page.get_by_test_id("app-edgebench")).to_contain_text(
        "GET /api/v1/edgebench/results")
    page.get_by_test_id("app-open-edgebench").click()
    frame = page.frame_locator('[data-testid="app-frame"]')
    # the demo home has no runs yet: the page called its row with the token and says so
    expect(frame.get_by_test_id("status")).to_contain_text("no runs yet")
    expect(frame.get_by_test_id("runs")).to_be_hidden()
