"""The volumes issue's end-to-end acceptance, through the CLI as a user types it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlfabric import snapshots, volumes
from tests.helpers import run_cli, tree_digest, write_tree


def ok(home: Path, *args: str):
    r = run_cli(home, *args)
    assert r.code == 0, f"mlfabric {' '.join(args)} failed: {r.err}"
    return r


def test_snapshot_diff_restore_clone_end_to_end(home: Path, cli_mode: str) -> None:
    ok(home, "volume", "create", "data", "--size", "1Gi", "--label", "project=team-a")
    root = Path(ok(home, "volume", "path", "data").out.strip())
    paths = write_tree(root, 1000, dirs=20)
    # Nested folders with different depths and a symlink, as real datasets have.
    (root / "d0" / "deep" / "er").mkdir(parents=True)
    (root / "d0" / "deep" / "er" / "x.txt").write_text("deep")
    os.symlink("d0/deep/er/x.txt", root / "link-to-x")
    ok(home, "snapshot", "create", "data", "--name", "s1")
    at_s1 = tree_digest(root)

    modified, deleted = paths[0:10], paths[10:15]
    chmodded = paths[20]
    for p in modified:
        (root / p).write_bytes(b"changed " + p.encode())
    for p in deleted:
        (root / p).unlink()
    added = [f"d{i}/sub0/new-{i}.bin" for i in range(5)]
    for p in added:
        (root / p).write_bytes(b"new " + p.encode())
    os.chmod(root / chmodded, 0o600)
    s2 = ok(home, "--json", "snapshot", "create", "data", "--name", "s2").json()
    assert s2["files"] == 1000 + 1  # 1000 - 5 + 5, plus deep/er/x.txt
    # Only changed files were read (chmod changes ctime, so that file is re-read too).
    assert s2["hashed_files"] == len(modified) + len(added) + 1
    at_s2 = tree_digest(root)

    d = ok(home, "snapshot", "diff", "data@s1", "data@s2", "--json").json()
    assert sorted(d["modified"]) == sorted(modified)
    assert sorted(d["deleted"]) == sorted(deleted)
    assert sorted(d["added"]) == sorted(added)
    assert d["mode_changed"] == [chmodded]
    text = ok(home, "snapshot", "diff", "data@s1", "data@s2").out
    assert f"M {modified[0]}" in text and f"D {deleted[0]}" in text
    assert f"A {added[0]}" in text and f"P {chmodded}" in text
    live = ok(home, "snapshot", "diff", "data@s2", "data", "--json").json()
    assert live["added"] == live["deleted"] == live["modified"] == live["mode_changed"] == []

    r = ok(home, "--json", "snapshot", "restore", "data@s1").json()
    assert tree_digest(root) == at_s1
    safety = r["safety_snapshot"]
    assert safety and safety.startswith("pre-restore-")
    kinds = {s["name"]: s["kind"] for s in ok(home, "snapshot", "list", "data", "--json").json()}
    assert kinds[safety] == "safety"
    assert ok(home, "snapshot", "diff", "data@s2", f"data@{safety}", "--json").json()["added"] == []

    c = ok(home, "--json", "volume", "clone", "exp2", "--from", "data@s2").json()
    assert c["origin"] == "data@s2"
    clone_root = Path(c["path"])
    assert tree_digest(clone_root) == at_s2
    # Independent: writes in the clone change neither the volume nor any snapshot.
    (clone_root / paths[100]).write_bytes(b"clone-only")
    (clone_root / "clone-new.txt").write_text("x")
    assert tree_digest(root) == at_s1
    ok(home, "snapshot", "restore", "data@s2", "--no-safety-snapshot")
    assert tree_digest(root) == at_s2
    shown = ok(home, "volume", "show", "exp2", "--json").json()
    assert shown["origin"] == "data@s2" and shown["labels"] == {"project": "team-a"}
    assert "data@s2" in ok(home, "volume", "show", "exp2").out
    assert ok(home, "verify").code == 0


def test_restore_never_loses_data(home: Path, cli_mode: str) -> None:
    ok(home, "volume", "create", "v")
    root = Path(ok(home, "volume", "path", "v").out.strip())
    (root / "a.txt").write_text("v1")
    ok(home, "snapshot", "create", "v", "--name", "one")
    (root / "a.txt").write_text("unsaved work")
    (root / "b.txt").write_text("more unsaved work")
    before = tree_digest(root)
    safety = ok(home, "--json", "snapshot", "restore", "v@one").json()["safety_snapshot"]
    assert (root / "a.txt").read_text() == "v1" and not (root / "b.txt").exists()
    ok(home, "snapshot", "restore", f"v@{safety}")
    assert tree_digest(root) == before


def test_utime_put_back_is_still_caught(home: Path) -> None:
    ok(home, "volume", "create", "v")
    root = Path(ok(home, "volume", "path", "v").out.strip())
    f = root / "weights.bin"
    f.write_bytes(b"A" * 4096)
    st = f.stat()
    ok(home, "snapshot", "create", "v", "--name", "s1")
    f.write_bytes(b"B" * 4096)  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime put back
    assert f.stat().st_mtime_ns == st.st_mtime_ns
    ok(home, "snapshot", "create", "v", "--name", "s2")
    d = ok(home, "snapshot", "diff", "v@s1", "v@s2", "--json").json()
    assert d["modified"] == ["weights.bin"]
    clone = Path(ok(home, "--json", "volume", "clone", "c", "--from", "v@s2").json()["path"])
    assert (clone / "weights.bin").read_bytes() == b"B" * 4096


def _tree_state(home: Path) -> tuple[dict, list, list]:
    vols = [v.to_dict() for v in volumes.list(home=home)]
    snaps = [s.to_dict() for s in snapshots.list("data", home=home)]
    return tree_digest(home / "volumes"), vols, snaps


BAD_INPUT = [
    (["volume", "create", "UPPER"], "invalid volume name"),
    (["volume", "create", "a_b"], "invalid volume name"),
    (["volume", "create", "../x"], "invalid volume name"),
    (["volume", "create", "--", "-x"], "invalid volume name"),
    (["volume", "create", "a" * 64], "longer than 63"),
    (["volume", "create", ""], "must not be empty"),
    (["volume", "create", "ok", "--size", "-1Gi"], "must not be negative"),
    (["volume", "create", "ok", "--size", "1XB"], "unknown unit"),
    (["volume", "create", "ok", "--size", "abc"], "invalid size"),
    (["volume", "create", "ok", "--size", "1e999TB"], "invalid size"),
    (["volume", "create", "ok", "--label", "nokey"], "invalid label"),
    (["volume", "show", "nosuch"], "volume 'nosuch' not found"),
    (["volume", "delete", "nosuch"], "volume 'nosuch' not found"),
    (["volume", "delete", "data"], "use --force"),
    (["volume", "create", "data"], "volume 'data' already exists"),
    (["volume", "clone", "data", "--from", "data@s1"], "volume 'data' already exists"),
    (["volume", "clone", "c", "--from", "data@nosuch"], "snapshot 'data@nosuch' not found"),
    (["volume", "clone", "c", "--from", "nosuch"], "volume 'nosuch' not found"),
    (["volume", "clone", "c", "--from", "data@s1", "--mode", "magic"], "invalid mode"),
    (["snapshot", "create", "data", "--name", "s1"], "snapshot 'data@s1' already exists"),
    (["snapshot", "create", "data", "--name", "Bad_Name"], "invalid snapshot name"),
    (["snapshot", "create", "nosuch"], "volume 'nosuch' not found"),
    (["snapshot", "show", "data@nosuch"], "snapshot 'data@nosuch' not found"),
    (["snapshot", "show", "data"], "expected VOLUME@SNAPSHOT"),
    (["snapshot", "show", "data@"], "malformed reference"),
    (["snapshot", "show", "data@s1@s2"], "malformed reference"),
    (["snapshot", "show", "@s1"], "must not be empty"),
    (["snapshot", "delete", "data@nosuch"], "not found"),
    (["snapshot", "restore", "data@nosuch"], "snapshot 'data@nosuch' not found"),
    (["snapshot", "restore", "data"], "expected VOLUME@SNAPSHOT"),
    (["snapshot", "diff", "data@s1", "data@nosuch"], "not found"),
    (["snapshot", "diff", "data", "data@s1"], "expected VOLUME@SNAPSHOT"),
    (["verify", "nosuch"], "volume 'nosuch' not found"),
    (["gc", "--grace", "soon"], "invalid duration"),
]


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("bad-input") / "home"
    ok(home, "volume", "create", "data")
    write_tree(home / "volumes" / "data", 20)
    ok(home, "snapshot", "create", "data", "--name", "s1")
    return home


@pytest.mark.parametrize(("args", "message"), BAD_INPUT,
                         ids=[" ".join(a)[:40] for a, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_changes_nothing(populated: Path, args: list[str],
                                                         message: str) -> None:
    before = _tree_state(populated)
    r = run_cli(populated, *args)
    assert r.code == 1, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in r.err + r.out
    assert _tree_state(populated) == before


def test_usage_errors_exit_2(home: Path) -> None:
    r = run_cli(home, "volume", "frobnicate")
    assert r.code == 2 and "No such command" in r.err
    r = run_cli(home, "volume", "create")
    assert r.code == 2


def test_usage_reports_dedup_and_over_size(home: Path) -> None:
    ok(home, "volume", "create", "small", "--size", "1KiB")
    root = home / "volumes" / "small"
    (root / "a").write_bytes(b"x" * 3000)
    ok(home, "snapshot", "create", "small")
    ok(home, "snapshot", "create", "small")
    r = run_cli(home, "--json", "volume", "usage", "small")
    assert r.code == 0
    u = r.json()
    assert u["logical_bytes"] == 3000 and u["over_size"] is True
    assert u["snapshot_logical_bytes"] == 6000 and u["stored_bytes"] == 3000
    assert u["dedup_ratio"] == 2.0
    assert "warning: volume 'small' uses" in r.err


def test_gc_dry_run_then_sweep(home: Path) -> None:
    ok(home, "volume", "create", "v")
    root = home / "volumes" / "v"
    (root / "keep").write_bytes(b"keep")
    (root / "drop").write_bytes(b"drop me")
    ok(home, "snapshot", "create", "v", "--name", "a")
    (root / "drop").unlink()
    ok(home, "snapshot", "create", "v", "--name", "b")
    ok(home, "snapshot", "delete", "v@a")
    # The stat index of v no longer mentions 'drop', so its object is now garbage.
    dry = ok(home, "--json", "gc", "--dry-run", "--grace", "0").json()
    assert dry["objects_removed"] >= 1
    drop_oid = "sha256:" + hashlib.sha256(b"drop me").hexdigest()
    objpath = home / "objects" / drop_oid[7:9] / drop_oid[9:]
    assert objpath.exists()
    kept = ok(home, "--json", "gc").json()  # default grace keeps young objects
    assert kept["objects_removed"] == 0 and kept["kept_in_grace"] >= 1
    done = ok(home, "--json", "gc", "--grace", "0").json()
    assert done["objects_removed"] == dry["objects_removed"]
    assert not objpath.exists()
    c = Path(ok(home, "--json", "volume", "clone", "c", "--from", "v@b").json()["path"])
    assert (c / "keep").read_bytes() == b"keep"
    assert ok(home, "verify").code == 0
