"""The storage driver conformance suite: a driver shows the same volume, snapshot, diff,
restore, clone, gc, verify and usage behaviour as every other, through the public API
(``mlfabric.volumes``, ``snapshots``, ``store``) in a home whose new volumes get it.

Settings: ``driver`` (its name in ``mlfabric.storage.drivers.DRIVERS``); ``home_fixture``
(a fixture giving the folder for each test's home, when the driver needs a particular
file system); capabilities ``read_only_enforced`` (a read-only clone refuses writes even
from root) and ``link_clones_keep_modes`` (link clones keep each file's mode bits); and
``damage``, to override when a driver keeps snapshot bytes outside the object store.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from mlfabric import snapshots, store, volumes
from mlfabric.errors import AlreadyExists, Busy, MlfabricError, NotFound
from mlfabric.testing import Conformance
from mlfabric.testing.trees import tree_digest, write_tree

N_FILES = 24
FILE_SIZE = 200


# -- helpers --------------------------------------------------------------------------
def _h(home: Path) -> str:
    return str(home)


def volume_path(home: Path, vol: str) -> Path:
    return Path(volumes.path(vol, home=_h(home)))


def digest(home: Path, vol: str) -> dict[str, tuple[str, int]]:
    return tree_digest(volume_path(home, vol))


def _contents(digest: dict[str, tuple[str, int]]) -> dict[str, str]:
    return {p: content for p, (content, _mode) in digest.items()}


def volume_with_tree(home: Path, name: str = "v") -> tuple[Path, list[str]]:
    """A volume with nested files, an empty directory and a symlink."""
    volumes.create(name, home=_h(home))
    root = volume_path(home, name)
    files = write_tree(root, N_FILES, dirs=4, size=FILE_SIZE)
    (root / "empty").mkdir()
    os.symlink("d0", root / "link")
    return root, files


def _rewrite_same_size(p: Path) -> None:
    p.write_bytes(b"x" * p.stat().st_size)


def _bytes(root: Path, files: list[str]) -> int:
    return sum((root / f).stat().st_size for f in files)


def change_tree(root: Path, files: list[str]) -> None:
    """Add, delete, modify (same size), chmod, retarget a link, add a directory."""
    (root / "added.txt").write_bytes(b"added")
    (root / files[0]).unlink()
    _rewrite_same_size(root / files[1])
    os.chmod(root / files[2], 0o600)
    (root / "link").unlink()
    os.symlink("d1", root / "link")
    (root / "newdir" / "deep").mkdir(parents=True)
    (root / "newdir" / "deep" / "n.txt").write_bytes(b"new")


def snap(home: Path, ref: str) -> snapshots.Snapshot:
    vol, name = ref.split("@")
    return snapshots.create(vol, name=name, home=_h(home))


def _assert_independent(home: Path, clone: str, at_s1: dict[str, tuple[str, int]],
                        rel: str) -> None:
    """Writing in ``clone`` changes neither the source volume nor snapshot v@s1."""
    source_before = digest(home, "v")
    croot = volume_path(home, clone)
    (croot / rel).write_bytes(b"changed in the clone")
    (croot / "clone-only.txt").write_bytes(b"mine")
    assert digest(home, "v") == source_before
    volumes.clone(f"{clone}-again", "v@s1", home=str(home))
    assert digest(home, f"{clone}-again") == at_s1
    d = snapshots.diff("v@s1", clone, home=str(home))
    assert (d.added, d.modified) == (["clone-only.txt"], [rel])


class DriverConformance(Conformance):
    """``class TestMine(DriverConformance, driver="mine"): ...``"""

    driver = ""
    home_fixture: str | None = None
    read_only_enforced = False
    link_clones_keep_modes = False
    damage_is_seen_by_problems = True  # the cheap check notices a rewritten object
    _damaged: ClassVar[set[Path]] = set()  # homes a test damaged on purpose

    @pytest.fixture
    def driver_home(self, request: pytest.FixtureRequest, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        """A fresh home where new volumes get this driver; the object store's invariants
        must hold when the test is done."""
        monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", self.driver)
        if self.home_fixture:
            home = Path(request.getfixturevalue(self.home_fixture))
        else:
            home = tmp_path / "home"
            home.mkdir()
        yield home
        if home not in self._damaged:
            assert store.problems(home=str(home)) == []

    def damage(self, home: Path, snapshot: str, rel: str, original: bytes) -> None:
        """Flip the bytes snapshot ``snapshot`` keeps for ``rel``: by default its
        content-addressed object (``objects/ab/cdef...``)."""
        self._damaged.add(home)
        hexid = hashlib.sha256(original).hexdigest()
        obj = home / "objects" / hexid[:2] / hexid[2:]
        os.chmod(obj, 0o644)
        obj.write_bytes(b"#" * len(original))

    # -- volumes --------------------------------------------------------------------------
    def test_volume_lifecycle_uses_the_driver(self, driver_home: Path) -> None:
        h = _h(driver_home)
        created = volumes.create("v", size="1Gi", labels=["team=a"], home=h)
        assert created.driver == self.driver
        volumes.create("w", home=h)
        with pytest.raises(AlreadyExists):
            volumes.create("v", home=h)
        shown = volumes.show("v", home=h)
        assert (shown.driver, shown.size_limit, shown.labels) == (self.driver, 1 << 30,
                                                                 {"team": "a"})
        assert [v.name for v in volumes.list(home=h)] == ["v", "w"]
        p = volume_path(driver_home, "v")
        assert p.is_dir() and list(p.iterdir()) == []
        assert p.parent == driver_home / "volumes"
        (p / "f.txt").write_text("hello")  # plain file I/O
        assert volumes.delete("v", home=h).name == "v"
        assert not p.exists()
        assert [v.name for v in volumes.list(home=h)] == ["w"]
        with pytest.raises(NotFound):
            volumes.show("v", home=h)


    def test_snapshot_create_list_show_delete(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
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
    def test_diff_between_snapshots_and_against_live(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        change_tree(root, files)  # right after the snapshot: same-size rewrite within a tick
        snap(driver_home, "v@s2")
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
            self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        at_s1 = digest(driver_home, "v")
        change_tree(root, files)
        before = digest(driver_home, "v")
        r = snapshots.restore("v@s1", home=h)
        assert digest(driver_home, "v") == at_s1
        # written: the deleted file, the rewritten file, the retargeted link; removed:
        # added.txt and newdir (with its children); chmod only: one.
        assert (r.written, r.removed, r.metadata_fixed) == (3, 2, 1)
        assert r.safety_snapshot is not None
        safety = snapshots.show(f"v@{r.safety_snapshot}", home=h)
        assert safety.kind == "safety"
        # The safety snapshot holds the pre-restore state.
        snapshots.restore(f"v@{r.safety_snapshot}", safety_snapshot=False, home=h)
        assert digest(driver_home, "v") == before
        snapshots.restore("v@s1", safety_snapshot=False, home=h)
        assert digest(driver_home, "v") == at_s1
        # The restored volume is an ordinary writable volume again.
        (volume_path(driver_home, "v") / "after.txt").write_bytes(b"after")
        assert snapshots.diff("v@s1", "v", home=h).added == ["after.txt"]
        assert len(snapshots.list("v", home=h)) == 2

    # -- clones ---------------------------------------------------------------------------


    @pytest.mark.parametrize("mode", ["auto", "copy"])
    def test_clone_of_a_snapshot_equals_it_and_is_independent(self, driver_home: Path,
                                                              mode: str) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        at_s1 = digest(driver_home, "v")
        change_tree(root, files)  # the clone takes the snapshot, not the live tree
        c = volumes.clone("c", "v@s1", mode=mode, home=h)
        assert (c.driver, c.origin, c.clone_mode, c.read_only) == (self.driver, "v@s1", mode,
                                                                    False)
        assert volumes.show("c", home=h).origin == "v@s1"
        assert digest(driver_home, "c") == at_s1
        _assert_independent(driver_home, "c", at_s1, files[3])
        # A clone is a full volume: it snapshots and restores on its own.
        snap(driver_home, "c@c1")
        snapshots.restore("c@c1", home=h)
        assert snapshots.diff("c@c1", "c", home=h).added == []


    def test_link_clone_is_read_only(self, driver_home: Path) -> None:
        h = _h(driver_home)
        _, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        at_s1 = digest(driver_home, "v")
        c = volumes.clone("ro", "v@s1", mode="link", home=h)
        assert (c.read_only, c.clone_mode, c.origin) == (True, "link", "v@s1")
        assert _contents(digest(driver_home, "ro")) == _contents(at_s1)
        if self.link_clones_keep_modes:
            assert digest(driver_home, "ro") == at_s1
        snap(driver_home, "ro@r1")
        with pytest.raises(MlfabricError, match="read-only"):
            snapshots.restore("ro@r1", home=h)
        if self.read_only_enforced:  # even against root
            with pytest.raises(OSError):
                (volume_path(driver_home, "ro") / "new.txt").write_bytes(b"x")
            with pytest.raises(OSError):
                (volume_path(driver_home, "ro") / files[0]).write_bytes(b"x")
        assert _contents(digest(driver_home, "ro")) == _contents(at_s1)
        volumes.delete("ro", force=True, home=h)
        assert not (driver_home / "volumes" / "ro").exists()


    def test_clone_without_a_snapshot_takes_one_first(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        change_tree(root, files)
        live = digest(driver_home, "v")
        c = volumes.clone("c", "v", home=h)
        snaps = snapshots.list("v", home=h)
        assert len(snaps) == 2 and snaps[0].name == "s1"
        assert snaps[1].kind == "auto"
        assert c.origin == f"v@{snaps[1].name}"
        assert digest(driver_home, "c") == live
        # Lineage survives a clone of a clone.
        c2 = volumes.clone("c2", "c", home=h)
        assert c2.origin is not None and c2.origin.startswith("c@")
        assert digest(driver_home, "c2") == live

    # -- delete, gc, verify, usage --------------------------------------------------------
    def test_deleting_a_volume_with_snapshots_needs_force(self, driver_home: Path) -> None:
        h = _h(driver_home)
        volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        snapshots.diff("v@s1", "v", home=h)
        at_s1 = digest(driver_home, "v")
        with pytest.raises(Busy):
            volumes.delete("v", home=h)
        assert digest(driver_home, "v") == at_s1
        deleted = volumes.delete("v", force=True, home=h)
        assert deleted.snapshots == 1
        assert not (driver_home / "volumes" / "v").exists()
        assert list((driver_home / "snapshots").rglob("*")) == []
        with pytest.raises(NotFound):
            snapshots.list("v", home=h)
        # The same name again is a new, empty volume: nothing of the old one leaks into it.
        volumes.create("v", home=h)
        root = volume_path(driver_home, "v")
        assert list(root.iterdir()) == []
        (root / "only.txt").write_bytes(b"only")
        snap(driver_home, "v@s1")
        assert snapshots.diff("v@s1", "v", home=h).added == []
        volumes.clone("c", "v@s1", home=h)
        assert digest(driver_home, "c") == {"only.txt": (hashlib.sha256(b"only").hexdigest(),
                                                          0o644)}


    def test_gc_keeps_everything_snapshots_need(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        at_s1 = digest(driver_home, "v")
        change_tree(root, files)
        snap(driver_home, "v@s2")
        at_s2 = digest(driver_home, "v")
        first = snapshots.diff("v@s1", "v@s2", home=h)
        volumes.clone("c", "v@s1", home=h)
        _rewrite_same_size(root / files[5])  # live change nothing has snapshotted
        report = store.gc(grace=0, home=h)
        assert report.leftovers_removed == []
        assert [v.name for v in volumes.list(home=h)] == ["c", "v"]
        assert snapshots.diff("v@s1", "v@s2", home=h) == first
        snapshots.restore("v@s1", home=h)
        assert digest(driver_home, "v") == at_s1
        snapshots.restore("v@s2", home=h)
        assert digest(driver_home, "v") == at_s2
        assert digest(driver_home, "c") == at_s1
        snapshots.delete("v@s2", home=h)
        store.gc(grace=0, home=h)
        snapshots.restore("v@s1", home=h)
        assert digest(driver_home, "v") == at_s1
        assert store.verify(home=h).ok


    def test_verify_is_ok_on_healthy_data(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        change_tree(root, files)
        snap(driver_home, "v@s2")
        snapshots.diff("v@s1", "v@s2", home=h)  # index both, so verify has records to check
        volumes.clone("c", "v@s1", home=h)
        snap(driver_home, "c@c1")
        report = store.verify(home=h)
        assert report.ok, report
        assert (report.snapshots_checked, report.damaged_snapshots) == (3, [])
        assert store.verify("v", home=h).snapshots_checked == 2




    def test_verify_names_a_damaged_file(self, driver_home: Path) -> None:
        h = _h(driver_home)
        root, files = volume_with_tree(driver_home)
        snap(driver_home, "v@s1")
        snapshots.diff("v@s1", "v", home=h)
        original = (root / files[4]).read_bytes()
        (root / files[4]).write_bytes(b"moved on")  # the live tree no longer has those bytes
        self.damage(driver_home, "s1", files[4], original)
        if self.damage_is_seen_by_problems:
            assert [p for p in store.problems(home=h) if "written after it was stored" in p]
        report = store.verify(home=h)
        assert not report.ok
        assert [(d.snapshot, d.paths) for d in report.damaged_snapshots] == [("v@s1", [files[4]])]


    def test_usage_reports_logical_bytes(self, driver_home: Path) -> None:
        h = _h(driver_home)
        volumes.create("v", size="1Ki", home=h)
        root = volume_path(driver_home, "v")
        files = write_tree(root, N_FILES, dirs=4, size=FILE_SIZE)
        (root / "big.bin").write_bytes(b"b" * 1000)
        logical = _bytes(root, files) + 1000
        u = volumes.usage("v", home=h)
        assert (u.logical_bytes, u.files, u.snapshots) == (logical, N_FILES + 1, 0)
        assert u.over_size and u.warning is not None
        snap(driver_home, "v@s1")
        snap(driver_home, "v@s2")
        u = volumes.usage("v", home=h)
        assert (u.snapshots, u.snapshot_logical_bytes, u.stored_bytes, u.dedup_ratio) == (
            2, 2 * logical, logical, 2.0)
        (root / "big.bin").unlink()
        assert volumes.usage("v", home=h).logical_bytes == logical - 1000
