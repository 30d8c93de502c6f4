"""Storage driver conformance: every driver passes the suite of
``mlfabric.testing.drivers``. ``local`` runs anywhere; ``btrfs`` runs for real on a
loop-mounted btrfs image this module creates (root and btrfs-progs needed: without them
those tests fail, they are never skipped). The btrfs-only behaviour follows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import snapshots, store, volumes
from mlfabric.testing.drivers import (
    DriverConformance,
    change_tree,
    digest,
    snap,
    volume_path,
    volume_with_tree,
)
from tests.helpers import write_tree


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


class TestLocalDriver(DriverConformance, driver="local"): ...


@pytest.mark.root
class TestBtrfsDriver(DriverConformance, driver="btrfs", home_fixture="btrfs_home",
                      read_only_enforced=True, link_clones_keep_modes=True,
                      damage_is_seen_by_problems=False):
    def damage(self, home: Path, snapshot: str, rel: str, original: bytes) -> None:
        """A btrfs snapshot keeps its bytes in a read-only subvolume."""
        (sub,) = (home / "snapshots").glob(f"*/{snapshot}")
        _must("btrfs", "property", "set", "-ts", sub, "ro", "false")
        (sub / rel).write_bytes(b"#" * len(original))
        _must("btrfs", "property", "set", "-ts", sub, "ro", "true")
        self._damaged.add(home)


# -- btrfs only: helpers -------------------------------------------------------------
def _h(home: Path) -> str:
    return str(home)


# -- btrfs only -----------------------------------------------------------------------
def _is_subvolume(p: Path) -> bool:
    return p.is_dir() and p.stat().st_ino == 256


@pytest.mark.root
def test_storage_driver_env_selects_local_on_btrfs(btrfs_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    h = _h(btrfs_home)
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "local")
    assert volumes.create("plain", home=h).driver == "local"
    assert not _is_subvolume(volume_path(btrfs_home, "plain"))
    monkeypatch.delenv("MLFABRIC_STORAGE_DRIVER")
    assert volumes.create("sub", home=h).driver == "btrfs"
    assert _is_subvolume(volume_path(btrfs_home, "sub"))
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "btrfs")
    assert volumes.create("sub2", home=h).driver == "btrfs"
    # Each volume keeps its own driver whatever the setting says now.
    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "local")
    for vol in ("plain", "sub"):
        write_tree(volume_path(btrfs_home, vol), 5)
        snap(btrfs_home, f"{vol}@s1")
        c = volumes.clone(f"{vol}-c", f"{vol}@s1", home=h)
        assert c.driver == volumes.show(vol, home=h).driver
        assert digest(btrfs_home, f"{vol}-c") == digest(btrfs_home, vol)
    assert _is_subvolume(volume_path(btrfs_home, "sub-c"))
    assert not _is_subvolume(volume_path(btrfs_home, "plain-c"))


@pytest.mark.root
@pytest.mark.parametrize("crash_at_rename", [1, 2])
def test_btrfs_restore_interrupted_is_completed_or_undone(
        btrfs_home: Path, monkeypatch: pytest.MonkeyPatch, crash_at_rename: int) -> None:
    h = _h(btrfs_home)
    root, files = volume_with_tree(btrfs_home)
    snap(btrfs_home, "v@s1")
    at_s1 = digest(btrfs_home, "v")
    change_tree(root, files)
    before = digest(btrfs_home, "v")
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
    assert digest(btrfs_home, "v") == (before if crash_at_rename == 1 else at_s1)
    assert sorted(p.name for p in (btrfs_home / "volumes").iterdir()) == [".tmp", "v"]
    assert snapshots.diff("v@after", "v", home=h).added == []


@pytest.mark.root
def test_btrfs_snapshots_and_clones_are_subvolumes_not_store_objects(btrfs_home: Path) -> None:
    h = _h(btrfs_home)
    volume_with_tree(btrfs_home)
    snap(btrfs_home, "v@s1")
    snap(btrfs_home, "v@s2")
    volumes.clone("c", "v@s1", home=h)
    assert all(_is_subvolume(volume_path(btrfs_home, v)) for v in ("v", "c"))
    subs = sorted(p.name for p in (btrfs_home / "snapshots").glob("*/*") if _is_subvolume(p))
    assert subs == ["s1", "s2"]

    def stored() -> list[Path]:
        return [p for p in (btrfs_home / "objects").glob("??/*") if p.is_file()]

    assert stored() == []  # no file bytes were copied anywhere
    snapshots.diff("v@s1", "v@s2", home=h)
    assert len(stored()) == 1  # the two (identical) manifests, cached once indexed
    assert snapshots.show("v@s2", home=h).manifest_oid is not None
