"""Storage driver conformance: every driver shows the same volume, snapshot, diff, restore,
clone, gc, verify and usage behaviour through the public API. ``local`` runs anywhere;
``btrfs`` runs for real on a loop-mounted btrfs image this module creates (root and
btrfs-progs needed: without them those tests fail, they are never skipped)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import snapshots, store, volumes
from mlfabric.errors import AlreadyExists, Busy, MlfabricError, NotFound
from tests.helpers import tree_digest, write_tree

DRIVERS = [pytest.param("local", id="local"),
           pytest.param("btrfs", id="btrfs", marks=pytest.mark.root)]
N_FILES = 24
FILE_SIZE = 200


# -- the btrfs file system ------------------------------------------------------------
def _sh(*cmd: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.fspath(c) for c in cmd], capture_output=True, text=True,
                          check=False)


def _must(*cmd: str | os.PathLike[str]) -> str:
    p = _sh(*cmd)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({p.returncode}): "
                    f"{' '.join((p.stderr or p.stdout).split())}")
    return p.stdout


@pytest.fixture(scope="session")
def btrfs_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 2 GiB sparse btrfs image, loop-mounted for the whole session."""
    missing = [t for t in ("mkfs.btrfs", "btrfs", "mount", "umount", "losetup")
               if shutil.which(t) is None]
    problems = ([f"missing {', '.join(missing)} (install btrfs-progs: "
                 "'make system-packages')"] if missing else [])
    if os.geteuid() != 0:
        problems.append("not running as root (mount -o loop needs root)")
    if problems:
        pytest.fail("the btrfs driver tests need a loop-mounted btrfs file system: "
                    + "; ".join(problems), pytrace=False)
    # A run stopped by SIGTERM (CI cancel, `timeout`) must still unmount: turn it into
    # KeyboardInterrupt, on which pytest tears session fixtures down.
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    base = tmp_path_factory.mktemp("btrfs")
    image, mnt = base / "btrfs.img", base / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(2 << 30)
    try:
        _must("mkfs.btrfs", "-q", image)
        _must("mount", "-o", "loop", image, mnt)
        try:
            yield mnt
        finally:
            if _sh("umount", mnt).returncode != 0:
                _sh("umount", "-l", mnt)
            for line in _sh("losetup", "-j", image).stdout.splitlines():
                _sh("losetup", "-d", line.split(":", 1)[0])
    finally:
        image.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)


def _remove_home(mnt: Path, home: Path) -> None:
    """Delete a home on the btrfs mount; read-only snapshots need 'subvolume delete'."""
    prefix = home.relative_to(mnt).as_posix() + "/"
    subvols = [line.split(" path ", 1)[1]
               for line in _must("btrfs", "subvolume", "list", mnt).splitlines()
               if " path " in line]
    for rel in sorted((s for s in subvols if s.startswith(prefix)),
                      key=lambda s: s.count("/"), reverse=True):
        _must("btrfs", "subvolume", "delete", mnt / rel)
    shutil.rmtree(home)


@pytest.fixture
def btrfs_home(btrfs_mount: Path) -> Iterator[Path]:
    """A fresh MLFABRIC_HOME on the btrfs mount for one test."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=btrfs_mount))
    try:
        yield home
    finally:
        _remove_home(btrfs_mount, home)


@pytest.fixture(params=DRIVERS)
def driver_home(request: pytest.FixtureRequest, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home where new volumes get the driver named by the param."""
    if request.param == "btrfs":
        return request.getfixturevalue("btrfs_home")  # chosen automatically: it is btrfs
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "local")
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def driver(driver_home: Path, request: pytest.FixtureRequest) -> str:
    """The driver name of this test's ``driver_home`` param."""
    return request.node.callspec.params["driver_home"]


# -- helpers --------------------------------------------------------------------------
def _h(home: Path) -> str:
    return str(home)


def _path(home: Path, vol: str) -> Path:
    return Path(volumes.path(vol, home=_h(home)))


def _digest(home: Path, vol: str) -> dict[str, tuple[str, int]]:
    return tree_digest(_path(home, vol))


def _contents(digest: dict[str, tuple[str, int]]) -> dict[str, str]:
    return {p: content for p, (content, _mode) in digest.items()}


def _volume_with_tree(home: Path, name: str = "v") -> tuple[Path, list[str]]:
    """A volume with nested files, an empty directory and a symlink."""
    volumes.create(name, home=_h(home))
    root = _path(home, name)
    files = write_tree(root, N_FILES, dirs=4, size=FILE_SIZE)
    (root / "empty").mkdir()
    os.symlink("d0", root / "link")
    return root, files


def _rewrite_same_size(p: Path) -> None:
    p.write_bytes(b"x" * p.stat().st_size)


def _bytes(root: Path, files: list[str]) -> int:
    return sum((root / f).stat().st_size for f in files)


def _change(root: Path, files: list[str]) -> None:
    """Add, delete, modify (same size), chmod, retarget a link, add a directory."""
    (root / "added.txt").write_bytes(b"added")
    (root / files[0]).unlink()
    _rewrite_same_size(root / files[1])
    os.chmod(root / files[2], 0o600)
    (root / "link").unlink()
    os.symlink("d1", root / "link")
    (root / "newdir" / "deep").mkdir(parents=True)
    (root / "newdir" / "deep" / "n.txt").write_bytes(b"new")


def _snap(home: Path, ref: str) -> snapshots.Snapshot:
    vol, name = ref.split("@")
    return snapshots.create(vol, name=name, home=_h(home))


# -- volumes --------------------------------------------------------------------------
def test_volume_lifecycle_uses_the_driver(driver_home: Path, driver: str) -> None:
    h = _h(driver_home)
    created = volumes.create("v", size="1Gi", labels=["team=a"], home=h)
    assert created.driver == driver
    volumes.create("w", home=h)
    with pytest.raises(AlreadyExists):
        volumes.create("v", home=h)
    shown = volumes.show("v", home=h)
    assert (shown.driver, shown.size_limit, shown.labels) == (driver, 1 << 30, {"team": "a"})
    assert [v.name for v in volumes.list(home=h)] == ["v", "w"]
    p = _path(driver_home, "v")
    assert p.is_dir() and list(p.iterdir()) == []
    assert p.parent == driver_home / "volumes"
    (p / "f.txt").write_text("hello")  # plain file I/O
    assert volumes.delete("v", home=h).name == "v"
    assert not p.exists()
    assert [v.name for v in volumes.list(home=h)] == ["w"]
    with pytest.raises(NotFound):
        volumes.show("v", home=h)


def test_snapshot_create_list_show_delete(driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    total = _bytes(root, files)
    s1 = snapshots.create("v", name="s1", home=h)
    auto = snapshots.create("v", home=h)
    assert (s1.ref, s1.kind) == ("v@s1", "user")
    assert auto.name.startswith("s-")
    with pytest.raises(AlreadyExists):
        snapshots.create("v", name="s1", home=h)
    assert [s.name for s in snapshots.list("v", home=h)] == ["s1", auto.name]
    assert volumes.show("v", home=h).snapshots == 2
    # Once indexed (a diff reads it), the counts are known whatever the driver.
    snapshots.diff("v@s1", "v", home=h)
    shown = snapshots.show("v@s1", home=h)
    assert (shown.files, shown.bytes) == (N_FILES, total)
    snapshots.delete("v@s1", home=h)
    assert [s.name for s in snapshots.list("v", home=h)] == [auto.name]
    with pytest.raises(NotFound):
        snapshots.show("v@s1", home=h)
    with pytest.raises(NotFound):
        snapshots.create("nope", home=h)


# -- diff -----------------------------------------------------------------------------
def test_diff_between_snapshots_and_against_live(driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    _change(root, files)  # right after the snapshot: same-size rewrite within a tick
    _snap(driver_home, "v@s2")
    d = snapshots.diff("v@s1", "v@s2", home=h)
    assert d.added == ["added.txt", "newdir/deep/n.txt"]
    assert d.deleted == [files[0]]
    assert d.modified == sorted([files[1], "link"])
    assert d.mode_changed == [files[2]]
    back = snapshots.diff("v@s2", "v@s1", home=h)
    assert (back.added, back.deleted) == (d.deleted, d.added)
    live = snapshots.diff("v@s2", "v", home=h)
    assert (live.added, live.deleted, live.modified, live.mode_changed) == ([], [], [], [])
    _rewrite_same_size(root / files[3])
    (root / "added.txt").unlink()
    (root / "later.txt").write_bytes(b"later")
    live = snapshots.diff("v@s2", "v", home=h)
    assert (live.added, live.deleted, live.modified, live.mode_changed) == (
        ["later.txt"], ["added.txt"], [files[3]], [])
    assert snapshots.diff("v@s1", "v@s1", home=h).modified == []


# -- restore --------------------------------------------------------------------------
def test_restore_makes_the_tree_identical_and_keeps_a_safety_snapshot(
        driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    at_s1 = _digest(driver_home, "v")
    _change(root, files)
    before = _digest(driver_home, "v")
    r = snapshots.restore("v@s1", home=h)
    assert _digest(driver_home, "v") == at_s1
    # written: the deleted file, the rewritten file, the retargeted link; removed:
    # added.txt and newdir (with its children); chmod only: one.
    assert (r.written, r.removed, r.metadata_fixed) == (3, 2, 1)
    assert r.safety_snapshot is not None
    safety = snapshots.show(f"v@{r.safety_snapshot}", home=h)
    assert safety.kind == "safety"
    # The safety snapshot holds the pre-restore state.
    snapshots.restore(f"v@{r.safety_snapshot}", safety_snapshot=False, home=h)
    assert _digest(driver_home, "v") == before
    snapshots.restore("v@s1", safety_snapshot=False, home=h)
    assert _digest(driver_home, "v") == at_s1
    # The restored volume is an ordinary writable volume again.
    (_path(driver_home, "v") / "after.txt").write_bytes(b"after")
    assert snapshots.diff("v@s1", "v", home=h).added == ["after.txt"]
    assert len(snapshots.list("v", home=h)) == 2


# -- clones ---------------------------------------------------------------------------
def _assert_independent(home: Path, clone: str, at_s1: dict[str, tuple[str, int]],
                        rel: str) -> None:
    """Writing in ``clone`` changes neither the source volume nor snapshot v@s1."""
    source_before = _digest(home, "v")
    croot = _path(home, clone)
    (croot / rel).write_bytes(b"changed in the clone")
    (croot / "clone-only.txt").write_bytes(b"mine")
    assert _digest(home, "v") == source_before
    volumes.clone(f"{clone}-again", "v@s1", home=str(home))
    assert _digest(home, f"{clone}-again") == at_s1
    d = snapshots.diff("v@s1", clone, home=str(home))
    assert (d.added, d.modified) == (["clone-only.txt"], [rel])


@pytest.mark.parametrize("mode", ["auto", "copy"])
def test_clone_of_a_snapshot_equals_it_and_is_independent(driver_home: Path, driver: str,
                                                          mode: str) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    at_s1 = _digest(driver_home, "v")
    _change(root, files)  # the clone takes the snapshot, not the live tree
    c = volumes.clone("c", "v@s1", mode=mode, home=h)
    assert (c.driver, c.origin, c.clone_mode, c.read_only) == (driver, "v@s1", mode, False)
    assert volumes.show("c", home=h).origin == "v@s1"
    assert _digest(driver_home, "c") == at_s1
    _assert_independent(driver_home, "c", at_s1, files[3])
    # A clone is a full volume: it snapshots and restores on its own.
    _snap(driver_home, "c@c1")
    snapshots.restore("c@c1", home=h)
    assert snapshots.diff("c@c1", "c", home=h).added == []


def test_link_clone_is_read_only(driver_home: Path, driver: str) -> None:
    h = _h(driver_home)
    _, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    at_s1 = _digest(driver_home, "v")
    c = volumes.clone("ro", "v@s1", mode="link", home=h)
    assert (c.read_only, c.clone_mode, c.origin) == (True, "link", "v@s1")
    assert _contents(_digest(driver_home, "ro")) == _contents(at_s1)
    if driver == "btrfs":  # local link clones share inodes with 0444 objects
        assert _digest(driver_home, "ro") == at_s1
    _snap(driver_home, "ro@r1")
    with pytest.raises(MlfabricError, match="read-only"):
        snapshots.restore("ro@r1", home=h)
    if driver == "btrfs":  # root ignores permission bits; a read-only subvolume does not
        with pytest.raises(OSError):
            (_path(driver_home, "ro") / "new.txt").write_bytes(b"x")
        with pytest.raises(OSError):
            (_path(driver_home, "ro") / files[0]).write_bytes(b"x")
    assert _contents(_digest(driver_home, "ro")) == _contents(at_s1)
    volumes.delete("ro", force=True, home=h)
    assert not (driver_home / "volumes" / "ro").exists()


def test_clone_without_a_snapshot_takes_one_first(driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    _change(root, files)
    live = _digest(driver_home, "v")
    c = volumes.clone("c", "v", home=h)
    snaps = snapshots.list("v", home=h)
    assert len(snaps) == 2 and snaps[0].name == "s1"
    assert snaps[1].kind == "auto"
    assert c.origin == f"v@{snaps[1].name}"
    assert _digest(driver_home, "c") == live
    # Lineage survives a clone of a clone.
    c2 = volumes.clone("c2", "c", home=h)
    assert c2.origin is not None and c2.origin.startswith("c@")
    assert _digest(driver_home, "c2") == live


# -- delete, gc, verify, usage --------------------------------------------------------
def test_deleting_a_volume_with_snapshots_needs_force(driver_home: Path) -> None:
    h = _h(driver_home)
    _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    snapshots.diff("v@s1", "v", home=h)
    at_s1 = _digest(driver_home, "v")
    with pytest.raises(Busy):
        volumes.delete("v", home=h)
    assert _digest(driver_home, "v") == at_s1
    deleted = volumes.delete("v", force=True, home=h)
    assert deleted.snapshots == 1
    assert not (driver_home / "volumes" / "v").exists()
    assert list((driver_home / "snapshots").rglob("*")) == []
    with pytest.raises(NotFound):
        snapshots.list("v", home=h)
    # The same name again is a new, empty volume: nothing of the old one leaks into it.
    volumes.create("v", home=h)
    root = _path(driver_home, "v")
    assert list(root.iterdir()) == []
    (root / "only.txt").write_bytes(b"only")
    _snap(driver_home, "v@s1")
    assert snapshots.diff("v@s1", "v", home=h).added == []
    volumes.clone("c", "v@s1", home=h)
    assert _digest(driver_home, "c") == {"only.txt": (hashlib.sha256(b"only").hexdigest(),
                                                      0o644)}


def test_gc_keeps_everything_snapshots_need(driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    at_s1 = _digest(driver_home, "v")
    _change(root, files)
    _snap(driver_home, "v@s2")
    at_s2 = _digest(driver_home, "v")
    first = snapshots.diff("v@s1", "v@s2", home=h)
    volumes.clone("c", "v@s1", home=h)
    _rewrite_same_size(root / files[5])  # live change nothing has snapshotted
    report = store.gc(grace=0, home=h)
    assert report.leftovers_removed == []
    assert [v.name for v in volumes.list(home=h)] == ["c", "v"]
    assert snapshots.diff("v@s1", "v@s2", home=h) == first
    snapshots.restore("v@s1", home=h)
    assert _digest(driver_home, "v") == at_s1
    snapshots.restore("v@s2", home=h)
    assert _digest(driver_home, "v") == at_s2
    assert _digest(driver_home, "c") == at_s1
    snapshots.delete("v@s2", home=h)
    store.gc(grace=0, home=h)
    snapshots.restore("v@s1", home=h)
    assert _digest(driver_home, "v") == at_s1
    assert store.verify(home=h).ok


def test_verify_is_ok_on_healthy_data(driver_home: Path) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    _change(root, files)
    _snap(driver_home, "v@s2")
    snapshots.diff("v@s1", "v@s2", home=h)  # index both, so verify has records to check
    volumes.clone("c", "v@s1", home=h)
    _snap(driver_home, "c@c1")
    report = store.verify(home=h)
    assert report.ok, report
    assert (report.snapshots_checked, report.damaged_snapshots) == (3, [])
    assert store.verify("v", home=h).snapshots_checked == 2


def _damage(driver: str, home: Path, snapshot: str, rel: str, original: bytes) -> None:
    """Flip the bytes a snapshot keeps for ``rel`` (where each driver keeps them)."""
    if driver == "local":  # the content-addressed object (DESIGN: objects/ab/cdef...)
        hexid = hashlib.sha256(original).hexdigest()
        obj = home / "objects" / hexid[:2] / hexid[2:]
        os.chmod(obj, 0o644)
        obj.write_bytes(b"#" * len(original))
        return
    (sub,) = (home / "snapshots").glob(f"*/{snapshot}")  # the read-only subvolume
    _must("btrfs", "property", "set", "-ts", sub, "ro", "false")
    (sub / rel).write_bytes(b"#" * len(original))
    _must("btrfs", "property", "set", "-ts", sub, "ro", "true")


def test_verify_names_a_damaged_file(driver_home: Path, driver: str) -> None:
    h = _h(driver_home)
    root, files = _volume_with_tree(driver_home)
    _snap(driver_home, "v@s1")
    snapshots.diff("v@s1", "v", home=h)
    original = (root / files[4]).read_bytes()
    (root / files[4]).write_bytes(b"moved on")  # the live tree no longer has those bytes
    _damage(driver, driver_home, "s1", files[4], original)
    report = store.verify(home=h)
    assert not report.ok
    assert [(d.snapshot, d.paths) for d in report.damaged_snapshots] == [("v@s1", [files[4]])]


def test_usage_reports_logical_bytes(driver_home: Path) -> None:
    h = _h(driver_home)
    volumes.create("v", size="1Ki", home=h)
    root = _path(driver_home, "v")
    files = write_tree(root, N_FILES, dirs=4, size=FILE_SIZE)
    (root / "big.bin").write_bytes(b"b" * 1000)
    logical = _bytes(root, files) + 1000
    u = volumes.usage("v", home=h)
    assert (u.logical_bytes, u.files, u.snapshots) == (logical, N_FILES + 1, 0)
    assert u.over_size and u.warning is not None
    _snap(driver_home, "v@s1")
    _snap(driver_home, "v@s2")
    u = volumes.usage("v", home=h)
    assert (u.snapshots, u.snapshot_logical_bytes, u.stored_bytes, u.dedup_ratio) == (
        2, 2 * logical, logical, 2.0)
    (root / "big.bin").unlink()
    assert volumes.usage("v", home=h).logical_bytes == logical - 1000


# -- btrfs only -----------------------------------------------------------------------
def _is_subvolume(p: Path) -> bool:
    return p.is_dir() and p.stat().st_ino == 256


@pytest.mark.root
def test_storage_driver_env_selects_local_on_btrfs(btrfs_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    h = _h(btrfs_home)
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "local")
    assert volumes.create("plain", home=h).driver == "local"
    assert not _is_subvolume(_path(btrfs_home, "plain"))
    monkeypatch.delenv("MLFABRIC_STORAGE_DRIVER")
    assert volumes.create("sub", home=h).driver == "btrfs"
    assert _is_subvolume(_path(btrfs_home, "sub"))
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "btrfs")
    assert volumes.create("sub2", home=h).driver == "btrfs"
    # Each volume keeps its own driver whatever the setting says now.
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "local")
    for vol in ("plain", "sub"):
        write_tree(_path(btrfs_home, vol), 5)
        _snap(btrfs_home, f"{vol}@s1")
        c = volumes.clone(f"{vol}-c", f"{vol}@s1", home=h)
        assert c.driver == volumes.show(vol, home=h).driver
        assert _digest(btrfs_home, f"{vol}-c") == _digest(btrfs_home, vol)
    assert _is_subvolume(_path(btrfs_home, "sub-c"))
    assert not _is_subvolume(_path(btrfs_home, "plain-c"))


@pytest.mark.root
@pytest.mark.parametrize("crash_at_rename", [1, 2])
def test_btrfs_restore_interrupted_is_completed_or_undone(
        btrfs_home: Path, monkeypatch: pytest.MonkeyPatch, crash_at_rename: int) -> None:
    h = _h(btrfs_home)
    root, files = _volume_with_tree(btrfs_home)
    _snap(btrfs_home, "v@s1")
    at_s1 = _digest(btrfs_home, "v")
    _change(root, files)
    before = _digest(btrfs_home, "v")
    real_rename, calls = os.rename, []

    def crashing_rename(src: object, dst: object) -> None:
        if ".restore-" in f"{src} {dst}":  # the subvolume swap, not the store's renames
            calls.append((src, dst))
        if len(calls) == crash_at_rename:
            raise KeyboardInterrupt("simulated crash")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", crashing_rename)
    with pytest.raises(KeyboardInterrupt):
        snapshots.restore("v@s1", home=h)
    monkeypatch.setattr(os, "rename", real_rename)
    # gc must not take the half-swapped subvolumes for orphan volumes.
    assert store.gc(grace=0, home=h).leftovers_removed == []
    snapshots.create("v", name="after", home=h)  # any operation on the volume recovers it
    # Crash before the swap: the restore never happened. After the first rename: it did.
    assert _digest(btrfs_home, "v") == (before if crash_at_rename == 1 else at_s1)
    assert sorted(p.name for p in (btrfs_home / "volumes").iterdir()) == [".tmp", "v"]
    assert snapshots.diff("v@after", "v", home=h).added == []


@pytest.mark.root
def test_btrfs_snapshots_and_clones_are_subvolumes_not_store_objects(btrfs_home: Path) -> None:
    h = _h(btrfs_home)
    _volume_with_tree(btrfs_home)
    _snap(btrfs_home, "v@s1")
    _snap(btrfs_home, "v@s2")
    volumes.clone("c", "v@s1", home=h)
    assert _is_subvolume(_path(btrfs_home, "v")) and _is_subvolume(_path(btrfs_home, "c"))
    subs = sorted(p.name for p in (btrfs_home / "snapshots").glob("*/*") if _is_subvolume(p))
    assert subs == ["s1", "s2"]

    def stored() -> list[Path]:
        return [p for p in (btrfs_home / "objects").glob("??/*") if p.is_file()]

    assert stored() == []  # no file bytes were copied anywhere
    snapshots.diff("v@s1", "v@s2", home=h)
    assert len(stored()) == 1  # the two (identical) manifests, cached once indexed
    assert snapshots.show("v@s2", home=h).manifest_oid is not None
