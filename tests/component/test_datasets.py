"""Datasets in a lake on a local folder: push only what the lake lacks, pull byte for
byte, lineage, delete and remote gc, two homes sharing one lake, failures that leave no
version behind, and the CLI as a user types it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlfabric import caches, datasets, remotes, snapshots, volumes
from mlfabric.datasets.remote.folder import FolderLake
from mlfabric.errors import AlreadyExists, Busy, CorruptData, InvalidInput, MlfabricError, NotFound
from tests.helpers import run_cli, tree_digest, write_tree


def lake_objects(lake: Path) -> set[str]:
    return {p.parent.name + p.name for p in (lake / "objects").glob("*/*")
            if not p.name.startswith(".")}


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.lstat().st_mtime_ns
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.fixture
def data(home: Path) -> Path:
    """A volume 'data' with 200 files (and a symlink, an empty file, an odd mode)."""
    volumes.create("data", home=str(home))
    root = Path(volumes.path("data", home=str(home)))
    write_tree(root, 200, dirs=8, size=1500)
    (root / "empty.txt").write_bytes(b"")
    (root / "d0" / "run.sh").write_text("#!/bin/sh\n")
    (root / "d0" / "run.sh").chmod(0o755)
    (root / "latest").symlink_to("d1")
    return root


@pytest.fixture
def lake(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    remotes.add("lake", str(path), home=str(home))
    return path


def test_push_pull_round_trip_and_lineage(home: Path, data: Path, lake: Path) -> None:
    h = str(home)
    snapshots.create("data", name="s1", home=h)
    before, before_mtimes = tree_digest(data), mtimes(data)
    v1 = datasets.push("data@s1", remote="lake", name="images", home=h)
    assert (v1.version, v1.source, v1.files) == ("v1", "data@s1", 202)
    assert v1.uploaded_objects == v1.objects == len(lake_objects(lake)) == 202

    doc = json.loads((lake / "datasets" / "images" / "v1.json").read_text())
    assert doc["manifest"] == v1.manifest_oid and doc["source"] == "data@s1"
    assert (lake / "manifests" / v1.manifest_oid[7:9] / v1.manifest_oid[9:]).is_file()
    assert list((lake / "pending").iterdir()) == []

    # 1% of the files change: only those objects travel
    for i in (3, 77):
        (data / f"d{i % 8}" / f"sub{(i // 8) % 5}" / f"file-{i:05}.bin").write_bytes(
            f"changed {i}".encode() * 10)
    v2 = datasets.push("data", name="images", home=h)  # snapshots first
    assert v2.version == "v2" and v2.source is not None and v2.source.startswith("data@s-")
    assert (v2.uploaded_objects, v2.uploaded_bytes) == (2, 90 + 100)
    assert len(lake_objects(lake)) == 204
    again = datasets.push("data", name="images", home=h)
    assert again.unchanged and again.version == "v2" and again.uploaded_objects == 0

    pulled = datasets.pull("images:v1", into="copy", home=h)
    assert (pulled.files, pulled.fetched_objects) == (202, 0)  # all local already
    copy = Path(pulled.path)
    assert tree_digest(copy) == before and mtimes(copy) == before_mtimes
    # the pulled volume's first snapshot reads nothing and equals the version's manifest
    snap = snapshots.create("copy", home=h)
    assert snap.hashed_files == 0 and snap.manifest_oid == v1.manifest_oid

    shown = datasets.show("images:v1", home=h)
    assert shown.lineage == ["volume:data", "snapshot:data@s1", "dataset:images:v1"]
    assert shown.pulled_into == ["copy"]
    assert volumes.show("copy", home=h).labels == {"dataset": "images:v1"}
    assert [v.version for v in datasets.versions("images", home=h)] == ["v1", "v2"]
    assert datasets.show("images", home=h).version == "v2"
    [listed] = datasets.list(home=h)
    assert (listed.name, listed.remote, listed.versions, listed.latest) == (
        "images", "lake", 2, "v2")


def test_pull_fetches_into_a_fresh_home(home: Path, data: Path, lake: Path,
                                        tmp_path: Path) -> None:
    """A second home imports the lake's versions, pulls them (fetching every object),
    and its own push continues the numbering."""
    datasets.push("data", remote="lake", name="images", home=str(home))
    other = str(tmp_path / "other-home")
    remotes.add("shared", str(lake), home=other)
    assert [(d.name, d.latest) for d in datasets.list(remote="shared", home=other)] == [
        ("images", "v1")]
    pulled = datasets.pull("images", into="mine", home=other)
    assert pulled.fetched_objects == 202 and pulled.fetched_bytes == pulled.bytes - 0
    assert tree_digest(Path(pulled.path)) == tree_digest(data)
    (Path(pulled.path) / "new.txt").write_text("from the other home")
    v = datasets.push("mine", name="images", home=other)
    assert (v.version, v.uploaded_objects, v.remote) == ("v2", 1, "shared")
    # the first home learns about v2 from the lake; a deletion elsewhere is mirrored too
    assert datasets.list(remote="lake", home=str(home))[0].latest == "v2"
    datasets.delete("images:v2", home=other)
    assert datasets.list(remote="lake", home=str(home))[0].latest == "v1"


def test_failed_push_leaves_no_version(home: Path, data: Path, lake: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = FolderLake.put_object  # the lake of this test is a local folder
    calls = []

    def flaky(self: FolderLake, oid: str, *args: Any, **kwargs: Any) -> None:
        calls.append(oid)
        if len(calls) == 50:
            raise ConnectionResetError(104, "injected failure")
        real(self, oid, *args, **kwargs)

    monkeypatch.setattr(FolderLake, "put_object", flaky)
    with pytest.raises(MlfabricError, match=r"failed for 1 object.*no version was created"):
        datasets.push("data", remote="lake", name="images", home=str(home), workers=4)
    assert not (lake / "datasets").exists()
    assert list((lake / "pending").iterdir()) == []
    with pytest.raises(NotFound, match="dataset 'images' not found"):
        datasets.show("images", home=str(home))
    monkeypatch.setattr(FolderLake, "put_object", real)
    v = datasets.push("data", remote="lake", name="images", home=str(home))
    assert (v.version, v.uploaded_objects) == ("v1", 1)  # the rest were already there


def test_damaged_lake_object_is_never_pulled(home: Path, data: Path, lake: Path,
                                             tmp_path: Path) -> None:
    v = datasets.push("data", remote="lake", name="images", home=str(home))
    victim = sorted((lake / "objects").glob("*/*"))[0]
    victim.chmod(0o644)
    victim.write_bytes(b"tampered")
    other = str(tmp_path / "other")
    remotes.add("lake", str(lake), home=other)
    datasets.list(remote="lake", home=other)
    with pytest.raises(CorruptData, match="is damaged"):
        datasets.pull(v.ref, into="copy", home=other)
    assert volumes.list(home=other) == []
    assert not (tmp_path / "other" / "volumes" / "copy").exists()


def test_delete_and_remote_gc(home: Path, data: Path, lake: Path) -> None:
    h = str(home)
    v1 = datasets.push("data", remote="lake", name="images", home=h)
    (data / "only-in-v2.bin").write_bytes(b"v2 only")
    v2 = datasets.push("data", name="images", home=h)
    caches.config("pool", path=str(home / "pool"), size="1Gi", home=h)
    caches.add("images:v2", pool="pool", home=h)
    with pytest.raises(Busy, match=r"images:v2 is cached in pool\(s\) pool; use --force"):
        datasets.delete("images:v2", home=h)
    nothing = datasets.gc("lake", grace=0, home=h)
    assert (nothing.objects_removed, nothing.versions, nothing.objects_reachable) == (0, 2, 203)
    deleted = datasets.delete("images:v2", force=True, home=h)
    assert deleted.cache_entries_removed == ["pool"] and caches.list(home=h) == []
    assert not (lake / "datasets" / "images" / "v2.json").exists()
    kept = datasets.gc("lake", home=h)  # within the 1h grace period
    assert (kept.objects_removed, kept.kept_in_grace) == (0, 1)
    dry = datasets.gc("lake", grace=0, dry_run=True, home=h)
    assert dry.objects_removed == 1 and len(lake_objects(lake)) == 203
    done = datasets.gc("lake", grace="0s", home=h)
    assert (done.objects_removed, done.bytes_removed, done.manifests_removed) == (1, 7, 1)
    assert len(lake_objects(lake)) == 202
    pulled = datasets.pull(v1.ref, into="back", home=h)
    assert tree_digest(Path(pulled.path)) == {
        k: d for k, d in tree_digest(data).items() if k != "only-in-v2.bin"}
    with pytest.raises(NotFound, match="dataset version 'images:v2' not found"):
        datasets.show(v2.ref, home=h)


def test_bad_input(home: Path, data: Path, lake: Path) -> None:
    h = str(home)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: datasets.push("data", name="x", home=h), InvalidInput,
         "dataset 'x' is new: say where it lives with --remote"),
        (lambda: datasets.push("data", remote="nope", name="x", home=h), NotFound,
         "remote 'nope' not found"),
        (lambda: datasets.push("nope", remote="lake", name="x", home=h), NotFound,
         "volume 'nope' not found"),
        (lambda: datasets.push("data@nope", remote="lake", name="x", home=h), NotFound,
         "snapshot 'data@nope' not found"),
        (lambda: datasets.pull("missing:v1", into="y", home=h), NotFound,
         "dataset 'missing' not found"),
        (lambda: datasets.pull("bad name", into="y", home=h), InvalidInput,
         "invalid dataset name"),
        (lambda: remotes.add("lake", "/tmp/elsewhere", home=h), AlreadyExists,
         "remote 'lake' already exists"),
        (lambda: remotes.add("r2", "ftp://host/x", home=h), InvalidInput,
         "unsupported remote URL"),
        (lambda: remotes.add("r2", "s3://user:pw@bucket/x", home=h), InvalidInput,
         "must not carry credentials"),
        (lambda: remotes.add("r2", "s3://bucket/x", options=["secret=abc"], home=h),
         InvalidInput, "would put a credential on the command line"),
    ]
    for call, exc, message in cases:
        with pytest.raises(exc, match=message):
            call()
    datasets.push("data", remote="lake", name="images", home=h)
    with pytest.raises(NotFound, match="dataset version 'images:v9' not found"):
        datasets.pull("images:v9", into="y", home=h)
    with pytest.raises(AlreadyExists, match="volume 'data' already exists"):
        datasets.pull("images", into="data", home=h)
    remotes.add("other", str(lake) + "-2", home=h)
    with pytest.raises(InvalidInput, match="lives on remote 'lake', not 'other'"):
        datasets.push("data", remote="other", name="images", home=h)
    with pytest.raises(Busy, match="has 1 dataset"):
        remotes.remove("lake", home=h)
    assert [r.name for r in remotes.list(home=h)] == ["lake", "other"]
    assert remotes.remove("lake", force=True, home=h).datasets == 1
    assert datasets.list(home=h) == []


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_cli(home: Path, data: Path, tmp_path: Path) -> None:
    lake = tmp_path / "cli-lake"
    assert run_cli(home, "remote", "add", "lake", str(lake)).code == 0
    listed = run_cli(home, "remote", "list", "--json")
    assert [r["name"] for r in listed.json()] == ["lake"]
    push = run_cli(home, "dataset", "push", "data", "--remote", "lake", "--name", "images",
                   "--json")
    assert push.code == 0, push.err
    assert push.json()["ref"] == "images:v1" and push.json()["uploaded_objects"] == 202
    shown = run_cli(home, "dataset", "show", "images:v1")
    assert shown.code == 0 and "volume:data -> snapshot:data@s-" in shown.out
    pull = run_cli(home, "dataset", "pull", "images:v1", "--into", "copy")
    assert pull.code == 0 and "pulled images:v1 into volume copy" in pull.out
    assert tree_digest(home / "volumes" / "copy") == tree_digest(data)
    gc = run_cli(home, "gc", "--remote", "lake", "--dry-run", "--json")
    assert gc.code == 0 and gc.json()["objects_removed"] == 0
    for args, message in [
        (("dataset", "pull", "images:v7", "--into", "x"),
         "error: dataset version 'images:v7' not found"),
        (("remote", "add", "bad", "s3://"), "error: malformed URL 's3://'"),
    ]:
        r = run_cli(home, *args)
        assert r.code == 1 and one_line(r.err).startswith(message), (args, r.err)
    deleted = run_cli(home, "dataset", "delete", "images:v1")
    assert deleted.code == 0 and "deleted images:v1" in deleted.out
    assert run_cli(home, "dataset", "list", "--json").json() == []
    assert os.path.isdir(home / "volumes" / "copy")


def test_datasets_and_caches_on_postgres(home: Path, tmp_path: Path, postgres_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The same workflow with the catalog in a real PostgreSQL server."""
    monkeypatch.setenv("MLFABRIC_CATALOG_URL", postgres_url)
    h = str(home)
    volumes.create("data", home=h)
    data = Path(volumes.path("data", home=h))
    write_tree(data, 30)
    remotes.add("lake", str(tmp_path / "pg-lake"), home=h)
    v1 = datasets.push("data", remote="lake", name="images", home=h)
    (data / "more.txt").write_text("more")
    v2 = datasets.push("data", name="images", home=h)
    assert (v1.version, v2.version, v2.uploaded_objects) == ("v1", "v2", 1)
    caches.config("pool", path=str(tmp_path / "pg-pool"), size="10Mi", home=h)
    entry = caches.add("images:v1", pool="pool", home=h)
    caches.acquire_lease("images:v2", "job/1", pool="pool", home=h)
    assert caches.add("images:v1", pool="pool", home=h).hit
    [s] = caches.stats(home=h)
    assert (s.entries, s.hits, s.misses, s.leases) == (2, 1, 2, 1)
    assert files_of(entry.path) == files_of(data, skip={"more.txt"})
    assert datasets.show("images:v2", home=h).cached_in == ["pool"]
    assert datasets.gc("lake", grace=0, home=h).objects_removed == 0
    assert not (home / "catalog.db").exists()


def files_of(root: Path | str, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, str]:
    return {k: d for k, (d, _) in tree_digest(root).items() if d != "dir" and k not in skip}
