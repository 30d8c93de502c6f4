"""Integrity: racy-clean edits, and in-place writes through a link clone's hard links."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import snapshots, store, volumes
from mlfabric.errors import CorruptData
from mlfabric.home import open_home
from mlfabric.storage import storage_of
from mlfabric.storage.drivers import local as local_driver
from tests.helpers import loop_mount, require_root, run_cli, tree_digest, unmount


@pytest.fixture(scope="module")
def coarse_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ext4 with 128-byte inodes: whole-second timestamps, like many network and older
    file systems, so an edit within the same second leaves size, mtime and ctime alike."""
    require_root("loop-mounts an ext4 image with one-second timestamps")
    base = tmp_path_factory.mktemp("coarse")
    mnt = base / "mnt"
    loop_mount(base / "fs.img", mnt, ["mkfs.ext4", "-q", "-F", "-I", "128"], size="64M")
    try:
        yield mnt
    finally:
        unmount(mnt)


def _edit_within_one_second(home: Path) -> tuple[Path, int]:
    """Snapshot a file, then rewrite it (same size) within the same second. Returns the
    file and how many attempts it took to stay inside one second."""
    volumes.create("v", home=home)
    f = Path(volumes.path("v", home=home)) / "model.bin"
    for attempt in range(1, 6):
        time.sleep(1.0 - (time.time() % 1.0) + 0.02)  # just after a second boundary
        start = int(time.time())
        f.write_bytes(b"A" * 1000)
        before = f.stat()
        snapshots.create("v", name=f"a{attempt}", home=home)
        f.write_bytes(b"B" * 1000)
        after = f.stat()
        same = (before.st_mtime_ns, before.st_ctime_ns, before.st_size, before.st_ino) == (
            after.st_mtime_ns, after.st_ctime_ns, after.st_size, after.st_ino)
        if same and int(time.time()) == start:
            return f, attempt
    pytest.fail("could not keep write, snapshot and edit within one second in 5 attempts")


def test_same_size_edit_within_timestamp_granularity_is_caught(coarse_fs: Path) -> None:
    home = coarse_fs / "home-racy"
    _f, attempt = _edit_within_one_second(home)
    snapshots.create("v", name="b", home=home)
    d = snapshots.diff(f"v@a{attempt}", "v@b", home=home)
    assert d.modified == ["model.bin"]


def test_without_the_racy_rule_that_edit_would_be_missed(coarse_fs: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Shows the previous test exercises the racy-clean rule: with a scan clock far in the
    future every entry is trusted, and the stat-identical edit goes unseen."""
    monkeypatch.setattr(local_driver, "fs_now_ns", lambda _d: 2**62)
    home = coarse_fs / "home-control"
    _f, attempt = _edit_within_one_second(home)
    snapshots.create("v", name="b", home=home)
    assert snapshots.diff(f"v@a{attempt}", "v@b", home=home).modified == []


def test_in_place_write_to_link_clone_is_detected_and_never_served(home: Path) -> None:
    require_root("root ignores the read-only bit of hard-linked snapshot objects")
    volumes.create("data", home=home)
    root = Path(volumes.path("data", home=home))
    (root / "a.bin").write_bytes(b"original-a" * 100)
    (root / "b.bin").write_bytes(b"original-b" * 100)
    snapshots.create("data", name="s1", home=home)
    at_s1 = tree_digest(root)
    lc = Path(volumes.clone("lc", "data@s1", mode="link", home=home).path)
    assert volumes.show("lc", home=home).read_only
    with open(lc / "a.bin", "r+b") as f:  # root can write through the 0444 hard link
        f.write(b"TAMPERED!!")

    # A later clone of the damaged snapshot refuses, naming the file, in every mode.
    for i, mode in enumerate(("link", "copy", "auto")):
        with pytest.raises(CorruptData, match=r"a\.bin"):
            volumes.clone(f"x{i}", "data@s1", mode=mode, home=home)
        assert f"x{i}" not in [v.name for v in volumes.list(home=home)]

    # The next snapshot of the link clone reports the in-place write.
    snap = snapshots.create("lc", name="after", home=home)
    assert any("a.bin" in w and "written in place" in w for w in snap.warnings)

    # verify names the damaged snapshot and file, and exits 1 through the CLI.
    report = store.verify(home=home)
    assert not report.ok
    damaged = {d.snapshot: d.paths for d in report.damaged_snapshots}
    assert damaged["data@s1"] == ["a.bin"]
    r = run_cli(home, "verify")
    assert r.code == 1 and r.err.strip().splitlines()[-1].startswith("error: verify found")
    assert "data@s1: a.bin" in r.out

    # Restoring the damaged snapshot fails before touching the volume.
    (root / "a.bin").write_bytes(b"work in progress")
    live = tree_digest(root)
    with pytest.raises(CorruptData, match=r"a\.bin"):
        snapshots.restore("data@s1", home=home)
    assert tree_digest(root) == live
    # The untouched file still restores from its intact object.
    (root / "a.bin").write_bytes(b"original-a" * 100)  # the user still has the bytes...
    snapshots.create("data", name="heal", home=home)   # ...so storing them heals the object
    assert store.verify(home=home).ok
    snapshots.restore("data@s1", home=home)
    assert tree_digest(root) == at_s1


def _live_manifest_bytes(vol: Path) -> bytes:
    """The manifest of the tree as it is, from a scan that trusts nothing."""
    return local_driver.scan_tree(vol, local_driver.StatIndex(), marker_ns=0,
                                  store=None).index.manifest().to_bytes()


def _settled(vol: Path, rng: random.Random, names: list[str], n: int) -> None:
    """Rewrite ``n`` files, then step past the timestamp tick so the next scan trusts them."""
    for name in rng.sample(names, n):
        (vol / name).write_bytes(rng.randbytes(rng.randint(0, 3000)))
    time.sleep(0.02)


def test_snapshots_that_patch_the_previous_manifest_equal_a_full_rebuild(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A content-only change reuses the previous manifest's bytes for unchanged lines; the
    result must be exactly what a from-scratch scan serializes, including when the previous
    manifest object is damaged or the stat index is garbage."""
    patched: list[bool] = []
    real = local_driver.StatIndex._patched_manifest

    def spy(*args: object) -> bytes | None:
        out = real(*args)  # type: ignore[arg-type]
        patched.append(out is not None)
        return out

    monkeypatch.setattr(local_driver.StatIndex, "_patched_manifest", staticmethod(spy))
    volumes.create("v", home=home)
    vol = Path(volumes.path("v", home=home))
    rng = random.Random(7)
    names = [f"d{i % 5}/f{i}{'é' if i % 4 else ''}.bin" for i in range(200)]
    for i, name in enumerate(names):
        (vol / name).parent.mkdir(exist_ok=True)
        (vol / name).write_bytes(rng.randbytes(i * 7))
    (vol / "ln").symlink_to("d0")
    time.sleep(0.02)
    st = storage_of(open_home(str(home)))
    snaps = [snapshots.create("v", home=home)]
    for step in range(4):
        _settled(vol, rng, names, 3)
        if step == 2:  # damage the manifest the next snapshot would patch
            path = st.objects.path(snaps[-1].manifest_oid)
            path.chmod(0o644)
            path.write_bytes(b"garbage")
        snap = snapshots.create("v", home=home)
        assert snap.hashed_files == 3
        assert st.objects.read_bytes(snap.manifest_oid) == _live_manifest_bytes(vol)
        assert (snap.files, snap.bytes) == (200, sum((vol / n).stat().st_size for n in names))
        snaps.append(snap)
    # Patched each time but when the manifest to patch was the damaged one.
    assert patched == [True, True, False, True]
    index = st.index_path(st.catalog.run_read(lambda c: st.volume_row(c, "v").id))
    index.write_bytes(b"\x00not an index")
    _settled(vol, rng, names, 2)
    snap = snapshots.create("v", home=home)
    assert snap.hashed_files == 200  # an unreadable index only costs re-reading
    assert st.objects.read_bytes(snap.manifest_oid) == _live_manifest_bytes(vol)
    report = store.verify(home=str(home))
    assert report.corrupt_objects == [snaps[2].manifest_oid]  # only the one we damaged
    assert [d.snapshot for d in report.damaged_snapshots] == [f"v@{snaps[2].name}"]
