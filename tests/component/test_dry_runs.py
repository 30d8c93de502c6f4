"""Plan, then apply: every ``--dry-run`` changes nothing, and says what the real operation
then does (push, cache add, snapshot restore, volume delete)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlfabric import caches, datasets, remotes, snapshots, volumes
from mlfabric.errors import InvalidInput
from tests.helpers import run_cli, tree_digest


def _volume(home: str) -> Path:
    root = Path(volumes.create("v", home=home).path)
    for i in range(6):
        (root / f"f{i}.txt").write_text(f"file {i}\n" * (i + 1))
    (root / "d").mkdir()
    (root / "d" / "g.txt").write_text("deep\n")
    return root


def _state(home: Path) -> dict[str, object]:
    """Everything a dry run must leave as it was: the home's files and catalog rows."""
    return {"tree": tree_digest(home / "volumes"),
            "snapshots": [s.to_dict() for s in snapshots.list("v", home=str(home))],
            "datasets": [d.to_dict() for d in datasets.list(home=str(home))],
            "cached": [e.to_dict() for e in caches.list(home=str(home))]}


def test_restore_and_delete_plans(home: Path) -> None:
    h = str(home)
    root = _volume(h)
    snapshots.create("v", name="s1", home=h)
    (root / "f0.txt").write_text("changed\n")
    (root / "new.txt").write_text("new\n")
    (root / "f1.txt").chmod(0o600)
    before = _state(home)
    plan = snapshots.plan_restore("v@s1", home=h)
    assert (plan.write, plan.remove, plan.fix_mode) == (["f0.txt"], ["new.txt"], ["f1.txt"])
    assert _state(home)["tree"] == before["tree"]
    done = snapshots.restore("v@s1", safety_snapshot=False, home=h)
    assert (done.written, done.removed, done.metadata_fixed) == (1, 1, 1)

    dplan = volumes.plan_delete("v", home=h)
    assert (dplan.snapshots, dplan.needs_force, dplan.files) == (["s1"], True, 7)
    assert dplan.bytes == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    volumes.clone("c", "v@s1", home=h)
    assert volumes.plan_delete("v", home=h).clones == ["c"]
    out = run_cli(home, "volume", "delete", "v", "--dry-run")
    assert out.code == 0 and "would delete volume v and its 1 snapshot(s) (s1)" in out.out
    assert "deleting needs --force" in out.out and "its clones stay: c" in out.out
    assert volumes.show("v", home=h).name == "v"
    restore = run_cli(home, "snapshot", "restore", "v@s1", "--dry-run", "--json")
    assert json.loads(restore.out)["write"] == []  # already restored


def test_push_and_cache_plans(home: Path, tmp_path: Path) -> None:
    h = str(home)
    _volume(h)
    snapshots.create("v", name="s1", home=h)
    remotes.add("lake", str(tmp_path / "lake"), home=h)
    before = _state(home)
    plan = datasets.plan_push("v@s1", name="ds", remote="lake", home=h)
    assert (plan.version, plan.unchanged, plan.files) == ("v1", False, 7)
    assert (plan.upload_objects, plan.objects) == (7, 7)
    assert _state(home) == before and not (tmp_path / "lake").exists()
    pushed = datasets.push("v@s1", name="ds", remote="lake", home=h)
    assert (pushed.version, pushed.uploaded_objects, pushed.uploaded_bytes) == (
        plan.version, plan.upload_objects, plan.upload_bytes)
    again = datasets.plan_push("v@s1", name="ds", home=h)
    assert again.unchanged and again.version == "v1" and again.upload_objects == 0
    (Path(volumes.path("v", home=h)) / "later.txt").write_text("later\n")
    live = datasets.plan_push("v", name="ds", home=h)  # the live tree, not snapshotted
    assert (live.source, live.version, live.unchanged) == ("v", "v2", False)
    assert (live.files, live.upload_objects, live.upload_bytes) == (8, 1, 6)
    assert len(snapshots.list("v", home=h)) == 1

    cplan = caches.plan_add("ds:v1", home=h)
    assert (cplan.hit, cplan.fetch_objects, cplan.evict) == (False, 7, [])
    assert caches.list(home=h) == []
    entry = caches.add("ds:v1", home=h)
    assert entry.fetched_objects == cplan.fetch_objects
    assert caches.plan_add("ds:v1", home=h).hit
    caches.remove("ds:v1", home=h)
    caches.config("default", size=10, home=h)
    with pytest.raises(InvalidInput, match="more than the 10 B budget"):
        caches.plan_add("ds:v1", home=h)
    out = run_cli(home, "cache", "add", "ds:v1", "--dry-run")
    assert out.code == 1 and out.err.startswith("error: dataset version ds:v1 needs")
    assert caches.problems(home=h) == []
