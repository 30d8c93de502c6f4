"""An app joins without touching a front end: a package with an ``mlfabric.apps`` entry
point, installed on the path, shows up in ``mlfabric --help``, runs as a noun, and its
routes are served by the platform server (and listed in its OpenAPI)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.helpers import run_cli
from tests.server import start_server

APP = '''
from mlfabric.apps import App, Route

APP = App(name="hello", help="Say hello (a test app).", module="hello_app",
          cli="hello_app.cli:app", routes=(Route("greet", "GET", "/hello/greet",
                                                  access="any", refs="name:text"),))


def greet(name: str = "world", *, home: str | None = None) -> dict[str, str]:
    """A greeting, from the library."""
    return {"greeting": f"hello, {name}"}
'''

CLI = '''
import typer

from mlfabric.console import OPTIONS, emit_json, say

app = typer.Typer(no_args_is_help=True)


@app.command("greet")
def greet(name: str = typer.Option("world", "--name")) -> None:
    """Say hello."""
    import hello_app

    out = hello_app.greet(name, home=OPTIONS.home)
    emit_json(out) if OPTIONS.json else say(out["greeting"])
'''


def _install(site: Path) -> dict[str, str]:
    """The app as an installed distribution would lay it out on ``site``."""
    pkg = site / "hello_app"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(APP)
    (pkg / "cli.py").write_text(CLI)
    dist = site / "hello_app-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-app\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mlfabric.apps]\nhello = hello_app:APP\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_an_installed_app_joins_the_cli_and_the_api(home: Path, tmp_path: Path) -> None:
    env = _install(tmp_path / "site")
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
    finally:
        assert server.stop() == 0, "".join(server.lines)
