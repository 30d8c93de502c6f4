"""The catalog on SQLite and on a real PostgreSQL server; versioned migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mlfabric import snapshots, store, volumes
from mlfabric.catalog import Catalog, migrations
from mlfabric.errors import AlreadyExists, MlfabricError
from tests.helpers import run_cli, tree_digest, write_tree


def test_fresh_catalog_is_at_latest_version_and_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Catalog(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select version from schema_version")).scalar() == \
            migrations.LATEST
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    engine.dispose()


def test_older_catalog_is_migrated_and_newer_one_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # a catalog from before any migration ran
        conn.execute(text("create table schema_version (id integer primary key, "
                          "version integer not null)"))
    Catalog(url)
    with engine.begin() as conn:
        assert conn.execute(text("select version from schema_version")).scalar() == \
            migrations.LATEST
        assert conn.execute(text("select count(*) from volumes")).scalar() == 0
        conn.execute(text("update schema_version set version = 999"))
    engine.dispose()
    with pytest.raises(MlfabricError, match="newer than this mlfabric"):
        Catalog(url)


def test_volume_workflow_on_postgres(home: Path, postgres_url: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFABRIC_CATALOG_URL", postgres_url)
    volumes.create("data", labels=["project=a"], home=home)
    root = Path(volumes.path("data", home=home))
    write_tree(root, 50)
    snapshots.create("data", name="s1", home=home)
    at_s1 = tree_digest(root)
    (root / "d0" / "sub0" / "file-00000.bin").write_bytes(b"changed")
    snapshots.create("data", name="s2", home=home)
    assert snapshots.diff("data@s1", "data@s2", home=home).modified == ["d0/sub0/file-00000.bin"]
    with pytest.raises(AlreadyExists):
        snapshots.create("data", name="s1", home=home)
    c = volumes.clone("c", "data@s1", home=home)
    assert tree_digest(c.path) == at_s1 and c.origin == "data@s1"
    snapshots.restore("data@s1", home=home)
    assert tree_digest(root) == at_s1
    assert store.verify(home=home).ok
    assert store.gc(grace=0, home=home).objects_removed == 0
    assert not (home / "catalog.db").exists()  # the catalog really lives in PostgreSQL

    # The CLI reaches the same server through the environment variable.
    procs = [run_cli(home, "--json", "snapshot", "create", "data", env={
        "MLFABRIC_CATALOG_URL": postgres_url}) for _ in range(3)]
    assert all(p.code == 0 for p in procs), [p.err for p in procs]
    names = [s.name for s in snapshots.list("data", home=home)]
    assert len(names) == len(set(names)) == 3 + 3  # s1, s2, the safety snapshot, 3 new


def catalog_url(backend: str, home: Path, request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> str:
    """The catalog a migration test works on: the home's SQLite file, or the private
    PostgreSQL server (named to the library through ``MLFABRIC_CATALOG_URL``)."""
    if backend != "postgres":
        return f"sqlite:///{home / 'catalog.db'}"
    url: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("MLFABRIC_CATALOG_URL", url)
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_v8_adds_token_expiry_and_origin_and_old_tokens_keep_working(
        home: Path, backend: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from mlfabric import tokens

    url = catalog_url(backend, home, request, monkeypatch)
    Catalog(url).engine.dispose()  # made at the latest version, outside the process cache
    engine = create_engine(url)
    secret = "mlf_" + "x" * 43
    with engine.begin() as conn:  # back to a v7 catalog holding one token
        for column in ("expires_at", "origin"):
            conn.execute(text(f"alter table api_tokens drop column {column}"))
        conn.execute(text("update schema_version set version = 7"))
        conn.execute(text(
            "insert into api_tokens (\"user\", role, projects, prefix, secret_hash, "
            "created_at) values ('ops', 'admin', '[]', 'mlf_xxxxxx', :h, 1.0)"),
            {"h": hashlib.sha256(secret.encode()).hexdigest()})
    engine.dispose()
    assert migrations.LATEST == 8
    assert tokens.authenticate(secret, home=str(home)).user == "ops"  # migrates on open
    [old] = tokens.list(home=str(home))
    assert (old.user, old.expires_at, old.origin) == ("ops", None, None)
    assert tokens.ensure_admin(home=str(home)) is None  # ops' admin token is still valid
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select version from schema_version")).scalar() == 8
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_v7_gives_each_project_its_uid_in_creation_order(
        home: Path, backend: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlfabric import projects
    from mlfabric.catalog.scheduler_schema import PROJECT_UID_BASE

    url = catalog_url(backend, home, request, monkeypatch)
    Catalog(url).engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:  # back to a v6 catalog with two projects, no uids
        conn.execute(text("drop index uq_projects_uid"))
        conn.execute(text("alter table projects drop column uid"))
        conn.execute(text("update schema_version set version = 6"))
        for n, name in enumerate(("zeta", "alpha")):
            conn.execute(text("insert into projects (name, quota, pool, created_at) "
                              "values (:n, 1, 'default', :t)"), {"n": name, "t": 10.0 + n})
    engine.dispose()
    by_name = {p.name: p.uid for p in projects.list(home=str(home))}  # migrates on open
    assert by_name == {"zeta": PROJECT_UID_BASE, "alpha": PROJECT_UID_BASE + 1}
    assert projects.create("new", quota=1, home=str(home)).uid == PROJECT_UID_BASE + 2
