from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

TIERS = ("unit", "component", "e2e")
# the Ray test bed's session fixture (``ray_bed``), started only by the tests that use it
pytest_plugins = ["tests.raybed"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its tier (its folder): ``pytest -m unit`` and so on."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh MLFABRIC_HOME for one test."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.mlfabric, settings, default project or a catalog
    URL from the environment."""
    monkeypatch.setenv("MLFABRIC_HOME", str(tmp_path / "default-home"))
    monkeypatch.setenv("MLFABRIC_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("MLFABRIC_PROJECT", raising=False)
    monkeypatch.delenv("MLFABRIC_CATALOG_URL", raising=False)
    monkeypatch.delenv("MLFABRIC_STORAGE_DRIVER", raising=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """A private PostgreSQL server (Debian package) on 127.0.0.1, for the whole session."""
    from tests.postgres import PostgresServer

    server = PostgresServer.start()
    try:
        yield server.host, server.port
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: tuple[str, int], request: pytest.FixtureRequest) -> str:
    """A fresh database on the session's PostgreSQL server, as a SQLAlchemy URL."""
    from tests.postgres import create_database

    return create_database(*postgres_server, request.node.name)


@pytest.fixture(params=["local", "server"])
def cli_mode(request: pytest.FixtureRequest, home: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test's CLI calls locally, then again through a live server over the same
    home (``MLFABRIC_SERVER``): client mode must give identical output and errors. The
    server gets the test module's ``SERVER_ENV`` (e.g. the runtime)."""
    if request.param == "local":
        yield "local"
        return
    from tests.server import start_server

    server = start_server(home, env=getattr(request.module, "SERVER_ENV", None))
    monkeypatch.setenv("MLFABRIC_SERVER", server.url)
    monkeypatch.setenv("MLFABRIC_TOKEN", server.token or "")
    try:
        yield "server"
    finally:
        assert server.stop() == 0, "".join(server.lines)


@pytest.fixture
def local_home(home: Path) -> Iterator[Path]:
    """A home for ``local``-runtime tests: every job process is killed at the end."""
    yield home
    kill_jobs(home)


def kill_jobs(home: Path) -> None:
    """SIGKILL the process groups of every job of ``home`` (a local-runtime test's end)."""
    from tests.helpers import run_cli

    with contextlib.suppress(Exception):
        listed = run_cli(home, "job", "list", "-A", "--json", env={"MLFABRIC_RUNTIME": "local"})
        for j in json.loads(listed.out or "[]"):
            for pid in j.get("pids") or []:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
