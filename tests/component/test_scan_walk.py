"""The snapshot scan's walk: the native column walk against the Python one, the bulk
comparison against the entry-by-entry one, and scans with either loop."""

from __future__ import annotations

import array
import os
import random
from pathlib import Path

import pytest

from mlfabric.errors import MlfabricError
from mlfabric.storage import fastfs
from mlfabric.storage.scan import StatIndex, scan_tree

NON_UTF8 = os.fsdecode(b"caf\xe9.bin")


def _tree(root: Path) -> None:
    (root / "d" / "deep").mkdir(parents=True)
    (root / "d-x").mkdir()
    (root / "empty-dir").mkdir()
    for i in range(30):
        (root / ("d" if i % 3 else "d-x") / f"f{i}.bin").write_bytes(os.urandom(i))
    (root / "d.txt").write_bytes(b"sorts between d and d-x? no: '-' < '.' < '/'")
    (root / NON_UTF8).write_bytes(b"latin")
    os.symlink("d/f1.bin", root / "link")
    os.mkfifo(root / "d" / "fifo")


@pytest.mark.parametrize("impl", ["native", "python"])
def test_walk_lists_every_entry_sorted_with_its_lstat(tmp_path: Path, impl: str) -> None:
    _tree(tmp_path)
    fn = fastfs.walk_py if impl == "python" else fastfs._native.walk
    names, raw_stats, raw_inodes = fn(str(tmp_path))
    assert names == sorted(names)
    expected = sorted(os.fsencode(os.path.relpath(os.path.join(d, n), tmp_path))
                      for d, dirs, files in os.walk(tmp_path) for n in dirs + files)
    assert names == expected
    stats, inodes = array.array("q"), array.array("Q")
    stats.frombytes(raw_stats)
    inodes.frombytes(raw_inodes)
    for k, name in enumerate(names):
        st = os.lstat(tmp_path / os.fsdecode(name))
        row = ((0, 0, 0, st.st_mode) if os.path.isdir(tmp_path / os.fsdecode(name))
               and not os.path.islink(tmp_path / os.fsdecode(name))
               else (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
        assert tuple(stats[4 * k:4 * k + 4]) == row, name
        assert inodes[k] == st.st_ino
    # Both loops agree byte for byte, and the wrapper decodes names as manifests do.
    assert fastfs.walk_py(str(tmp_path)) == fastfs._native.walk(str(tmp_path))
    assert NON_UTF8 in fastfs.walk(str(tmp_path))[0]


@pytest.mark.parametrize("impl", ["native", "python"])
def test_walk_of_a_missing_directory_raises_naming_it(tmp_path: Path, impl: str) -> None:
    fn = fastfs.walk_py if impl == "python" else fastfs._native.walk
    with pytest.raises(FileNotFoundError) as info:
        fn(str(tmp_path / "gone"))
    assert os.fsdecode(info.value.filename) == str(tmp_path / "gone")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        fn(str(tmp_path / "file"))


def test_differing_rows_native_and_python_agree() -> None:
    rng = random.Random(5)
    a = array.array("q", (rng.randrange(1 << 40) for _ in range(4 * 500)))
    ai = array.array("Q", range(500))
    b, bi = array.array("q", a), array.array("Q", ai)
    for i in (0, 7, 123, 499):
        b[4 * i + rng.randrange(4)] += 1
    bi[300] += 1
    want = [0, 7, 123, 300, 499]
    assert fastfs._native.differing(a, b, ai, bi) == want
    fastfs_native, fastfs._native = fastfs._native, None
    try:
        assert fastfs.differing(a, b, ai, bi) == want
        with pytest.raises(ValueError, match="lengths"):
            fastfs.differing(a, b[:-4], ai, bi)
    finally:
        fastfs._native = fastfs_native
    with pytest.raises(ValueError, match="lengths"):
        fastfs.differing(a, b[:-4], ai, bi)


def _scan(root: Path, index: StatIndex) -> tuple[StatIndex, list[str], list[str]]:
    r = scan_tree(root, index, marker_ns=2**62, store=None)
    return r.index, sorted(r.index.rows), r.warnings


@pytest.mark.parametrize("impl", ["native", "python"])
def test_scan_by_bulk_comparison_equals_the_scan_that_trusts_nothing(
        tmp_path: Path, impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if impl == "python":  # an install without a compiler
        monkeypatch.setattr(fastfs, "_native", None)
    _tree(tmp_path)
    first, _, warnings = _scan(tmp_path, StatIndex())
    assert warnings == ["skipped special file 'd/fifo' (not a file, dir or link)"]

    # Same paths, some contents changed (the bulk comparison), a symlink retargeted with
    # its stat alike is still read: the new index equals one from a scan that trusts
    # nothing.
    (tmp_path / "d" / "f1.bin").write_bytes(b"changed")
    (tmp_path / NON_UTF8).write_bytes(b"latin, again")
    os.chmod(tmp_path / "d-x" / "f3.bin", 0o600)
    os.unlink(tmp_path / "link")
    os.symlink("d/f2.bin", tmp_path / "link")
    second = scan_tree(tmp_path, first, marker_ns=2**62, store=None)
    assert second.hashed_files == 3
    fresh, _, _ = _scan(tmp_path, StatIndex())
    assert second.index.rows == fresh.rows

    # Paths added and removed (the entry-by-entry comparison): the same holds.
    (tmp_path / "d" / "f2.bin").unlink()
    (tmp_path / "d" / "new.bin").write_bytes(b"new")
    (tmp_path / "d" / "deep" / "x").mkdir()
    third = scan_tree(tmp_path, second.index, marker_ns=2**62, store=None)
    assert third.hashed_files == 1
    fresh, _, _ = _scan(tmp_path, StatIndex())
    assert third.index.rows == fresh.rows

    # Nothing changed: every row matches and no file is read.
    third.index.manifest_oid = "sha256:" + "0" * 64
    fourth = scan_tree(tmp_path, third.index, marker_ns=2**62, store=None)
    assert fourth.unchanged and fourth.hashed_files == 0


def test_scan_of_an_unreadable_tree_fails_naming_the_directory(tmp_path: Path) -> None:
    with pytest.raises(MlfabricError, match=f"cannot read directory '{tmp_path}/gone'"):
        scan_tree(tmp_path / "gone", StatIndex(), marker_ns=0, store=None)
