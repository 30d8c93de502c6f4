"""``--mode link`` clones: the columnar path (``link_tree``) and its native loop
(``fastfs.place``), checked against the entry-by-entry path and the Python loop."""

from __future__ import annotations

import array
import errno
import os
import stat
from pathlib import Path

import pytest

from mlfabric import snapshots, volumes
from mlfabric.errors import CorruptData
from mlfabric.home import open_home
from mlfabric.storage import fastfs, materialize, storage_of
from mlfabric.storage.manifest import Manifest, manifest_body
from mlfabric.storage.materialize import apply_tree, plan_tree
from mlfabric.storage.scan import StatIndex
from tests.helpers import tree_digest

NON_UTF8 = os.fsdecode(b"caf\xe9.bin")  # a Latin-1 name: not valid UTF-8


def test_the_native_loop_is_built() -> None:
    """The test install compiles ``_fastfs`` (the Python loop is only the fallback)."""
    assert fastfs.NATIVE


@pytest.mark.parametrize("impl", ["native", "python"])
def test_place_creates_entries_and_stops_at_the_first_failure(tmp_path: Path, impl: str
                                                              ) -> None:
    fn = fastfs.place_py if impl == "python" else fastfs._native_place
    src = tmp_path / "obj"
    src.write_bytes(b"12345")
    os.chmod(src, 0o444)
    src2 = tmp_path / "obj2"
    src2.write_bytes(b"")
    d = tmp_path / "t"
    ops = b"dfldf"
    srcs = [b"", bytes(src), b"../obj-target", b"", bytes(src2)]
    dsts = [bytes(d), bytes(d / "a"), bytes(d / "ln"), bytes(d / "sub"), bytes(d / "sub" / "b")]
    s, ino = array.array("q", bytes(32 * 5)), array.array("Q", bytes(8 * 5))
    assert fn(ops, srcs, dsts, 0, 5, s, ino, b"d") == (5, 0)  # directories only
    assert (d / "sub").is_dir() and not (d / "a").exists()
    assert list(ino[1:3]) == [0, 0] and ino[0] == os.stat(d).st_ino
    assert fn(ops, srcs, dsts, 0, 5, s, ino, b"fl") == (5, 0)  # then the rest
    assert fn(ops, srcs, dsts, 5, 5, s, ino, b"fl") == (5, 0)  # an empty range
    assert (d / "a").read_bytes() == b"12345" and os.stat(d / "a").st_ino == src.stat().st_ino
    assert os.readlink(d / "ln") == "../obj-target"
    assert stat.S_IMODE(os.stat(d / "sub").st_mode) == 0o700
    # Each row is the entry's lstat.
    for i, p in enumerate(dsts):
        st = os.lstat(p)
        row = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
        keep = (0, 3) if ops[i] == ord("d") else (0, 1, 2, 3)  # later children touch dirs
        assert [s[4 * i + k] for k in keep] == [row[k] for k in keep]
        assert ino[i] == st.st_ino
    # A missing source stops the loop at its index with ENOENT; an existing target with
    # EEXIST; the entries before it are placed and reported.
    s, ino = array.array("q", bytes(64)), array.array("Q", bytes(16))
    assert fn(b"ff", [bytes(src), bytes(tmp_path / "gone")], [bytes(d / "c"), bytes(d / "e")],
              0, 2, s, ino, b"f") == (1, errno.ENOENT)
    assert (d / "c").exists() and not (d / "e").exists()
    assert ino[0] == src.stat().st_ino and ino[1] == 0
    assert fn(b"f", [bytes(src)], [bytes(d / "a")], 0, 1, s, ino, b"f") == (0, errno.EEXIST)


@pytest.mark.parametrize("impl", ["native", "python"])
def test_place_rejects_bad_arguments(impl: str) -> None:
    fn = fastfs.place_py if impl == "python" else fastfs._native_place
    s, ino = array.array("q", bytes(32)), array.array("Q", bytes(8))
    with pytest.raises(ValueError, match="range"):
        fn(b"f", [b"a"], [b"b"], 0, 2, s, ino, b"f")
    with pytest.raises(ValueError, match="range"):  # buffers too small for the ops
        fn(b"ff", [b"a", b"a"], [b"b", b"b"], 0, 1, s, ino, b"f")
    with pytest.raises(ValueError, match="unknown op"):
        fn(b"x", [b"a"], [b"/nonexistent/b"], 0, 1, s, ino, b"x")
    if impl == "native":
        with pytest.raises(TypeError, match="not bytes"):
            fn(b"f", ["a"], [b"b"], 0, 1, s, ino, b"f")


def test_index_columns_distrust_every_racy_row_in_any_order() -> None:
    """Threads write entries out of path order: a racy row before an old one still counts."""
    marker = 1_000
    rows = [(10, 5, 5, 0o100644), (10, 5, 1_000, 0o100644), (10, 5, 5, 0o100644),
            (0, 0, 0, 0o40755), (3, 2_000, 2_000, 0o120777), (10, 5, 5, 0o100644)]
    stats = array.array("q", [v for r in rows for v in r])
    index = StatIndex.of_columns(["a", "b", "c", "d", "d/l", "e"], stats,
                                 array.array("Q", range(1, 7)), "fffdlf",
                                 ["sha256:" + "0" * 64] * 3 + ["", "c", "sha256:" + "1" * 64],
                                 array.array("Q", [1] * 6), marker_ns=marker)
    assert [p for p, r in index.rows.items() if not r[7]] == ["b", "d/l"]


def _tree(root: Path) -> None:
    (root / "d0" / "deep").mkdir(parents=True)
    (root / "d-1").mkdir()
    for i in range(40):
        (root / ("d0" if i % 2 else "d-1") / f"f{i}.bin").write_bytes(os.urandom(i * 37))
    (root / "d0" / "deep" / "same.bin").write_bytes(b"dup")
    (root / "d-1" / "same.bin").write_bytes(b"dup")  # two paths, one object
    (root / "empty.bin").write_bytes(b"")
    (root / NON_UTF8).write_bytes(b"latin")
    (root / "exec.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "exec.sh", 0o750)
    os.chmod(root / "d0" / "deep", 0o711)
    os.symlink("d0/f1.bin", root / "link")
    os.symlink("nowhere", root / "dangling")


@pytest.mark.parametrize("impl", ["native", "python"])
def test_link_clone_matches_the_entry_by_entry_path(home: Path, impl: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if impl == "python":  # the install without a compiler: the reference loop instead
        monkeypatch.setattr(fastfs, "_native_place", None)
        monkeypatch.setattr(fastfs, "NATIVE", False)
    monkeypatch.setattr(materialize, "_PLACE_BATCH", 4)  # many ranges, on several threads
    volumes.create("v", home=home)
    root = Path(volumes.path("v", home=home))
    _tree(root)
    snap = snapshots.create("v", name="s1", home=home)
    st = storage_of(open_home(home))
    c = volumes.clone("lc", "v@s1", mode="link", home=home)
    contents = {p: h for p, (h, _m) in tree_digest(root).items()}
    assert {p: h for p, (h, _m) in tree_digest(c.path).items()} == contents
    target = Manifest.from_bytes(st.objects.read_bytes(snap.manifest_oid))
    for name in ("exec.sh", NON_UTF8, "d-1/same.bin"):  # each file is its object
        assert os.stat(Path(c.path) / name).st_ino == st.objects.path(
            target.entries[name].ref).stat().st_ino
    assert stat.S_IMODE(os.stat(Path(c.path) / "d0" / "deep").st_mode) == 0o711

    lc_id = st.catalog.run_read(lambda conn: st.volume_row(conn, "lc").id)
    got = StatIndex.load(st.index_path(lc_id))
    assert got.manifest_oid == snap.manifest_oid
    # Its first snapshot re-reads only the racily clean last files (before anything else
    # links the same objects: that changes their ctime).
    untrusted = sum(1 for r in got.rows.values() if r[5] == "f" and not r[7])
    s = snapshots.create("lc", name="r1", home=home)
    assert s.hashed_files == untrusted and s.files == len(target.files)
    d = snapshots.diff("v@s1", "lc@r1", home=home)
    assert (d.added, d.deleted) == ([], [])

    # Its stat index holds the rows the entry-by-entry path gives for the same tree.
    other = home / "generic"
    other.mkdir()
    want = StatIndex(apply_tree(other, plan_tree(Manifest(), target), st.objects, mode="link"))
    assert sorted(got.rows) == sorted(want.rows)
    for path, g in got.rows.items():
        w = want.rows[path]
        # Files are the same objects either way; directories and symlinks are new inodes.
        same = (0, 1, 3, 4, 5, 6) if w[5] == "f" else (0, 4, 5, 6)
        assert [g[i] for i in same] == [w[i] for i in same], path
    assert got.totals() == want.totals() == (len(target.files), target.total_bytes)
    assert len(target.files) == 45
    # It records the manifest's line lengths, so a later snapshot can patch the manifest.
    body = manifest_body(st.objects.read_bytes(snap.manifest_oid))
    assert body is not None and sum(got.packed().lengths) == len(body)


def test_link_clone_with_a_missing_object_fails_naming_the_file(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(materialize, "_PLACE_BATCH", 4)
    volumes.create("v", home=home)
    root = Path(volumes.path("v", home=home))
    _tree(root)
    snap = snapshots.create("v", name="s1", home=home)
    st = storage_of(open_home(home))
    entries = Manifest.from_bytes(st.objects.read_bytes(snap.manifest_oid)).entries
    for gone in ("d0/f3.bin", "d0/f37.bin"):  # in different ranges
        st.objects.path(entries[gone].ref).unlink()
    with pytest.raises(CorruptData, match=r"d0/f3\.bin") as info:
        volumes.clone("lc", "v@s1", mode="link", home=home)
    assert info.value.paths == ["d0/f3.bin", "d0/f37.bin"]
    assert "lc" not in [v.name for v in volumes.list(home=home)]
    assert not list(st.config.tmp_dir.glob("clone-*"))  # the staging tree is gone
