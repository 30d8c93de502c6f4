"""An app joins without touching a front end: a package with an ``mlfabric.apps`` entry
point, installed on the path, shows up in ``mlfabric --help``, runs as a noun, and its
routes are served by the platform server (and listed in its OpenAPI)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import install_test_app, run_cli
from tests.server import start_server


def test_an_installed_app_joins_the_cli_and_the_api(home: Path, tmp_path: Path) -> None:
    env = install_test_app(tmp_path / "site")
    listed = run_cli(home, "--help", env=env, process=True)
    assert listed.code == 0
    assert any(line.split()[:1] == ["hello"] and "Say hello" in line
               for line in listed.out.splitlines())
    assert "faces" in listed.out  # the shipped app, through the same entry-point group
    ran = run_cli(home, "hello", "greet", "--name", "you", env=env, process=True)
    assert (ran.code, ran.out.strip()) == (0, "hello, you")
    assert run_cli(home, "--help", process=True).out.count("hello") == 0  # not installed

    server = start_server(home, env=env)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        r = httpx.get(f"{server.url}/api/v1/hello/greet", params={"name": "api"},
                      headers=headers)
        assert r.status_code == 200 and r.json() == {"greeting": "hello, api"}
        paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
        assert "/api/v1/hello/greet" in paths
        assert httpx.get(f"{server.url}/api/v1/hello/greet").status_code == 401
        apps = {a["name"]: a for a in httpx.get(f"{server.url}/api/v1/apps",
                                                headers=headers).json()}
        assert apps["hello"] == {"name": "hello", "help": "Say hello (a test app).",
                                 "page": "/apps/hello/", "routes": ["GET /api/v1/hello/greet"]}
        assert apps["faces"]["page"] is None  # it ships no page
        page = httpx.get(f"{server.url}/apps/hello/")  # static: what it shows needs a token
        assert page.status_code == 200 and 'data-testid="greeting"' in page.text
        kit = httpx.get(f"{server.url}/dashboard/appkit.js")
        assert kit.status_code == 200 and "mlfabric.token" in kit.text
    finally:
        assert server.stop() == 0, "".join(server.lines)
