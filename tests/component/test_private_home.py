"""A private home: created owner-only whatever the umask (home and its folders 0700, the
catalog 0600), and a home found wider is narrowed at the next open; one that belongs to
someone else is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlfabric import snapshots, volumes
from mlfabric.errors import MlfabricError
from mlfabric.home import open_home, private_dir


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_created_private_under_a_permissive_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o022)
    try:
        v = volumes.create("v", home=str(home))
        (Path(v.path) / "f.txt").write_text("x")
        snapshots.create("v", home=str(home))
    finally:
        os.umask(old)
    assert mode(home) == 0o700
    assert mode(home / "catalog.db") == 0o600
    for side in ("catalog.db-wal", "catalog.db-shm"):
        if (home / side).exists():
            assert mode(home / side) & 0o077 == 0, side
    for d in ("objects", "volumes", "index", "locks"):
        assert mode(home / d) == 0o700, d


def test_a_wider_home_is_narrowed_at_the_next_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    volumes.create("v", home=str(home))
    os.chmod(home, 0o755)
    os.chmod(home / "catalog.db", 0o644)
    from mlfabric import catalog
    from mlfabric import home as home_module

    # as the next command would find it: a new process, nothing of this home cached
    opened = home_module._homes.pop(home)
    catalog._catalogs.pop(opened.catalog.url).engine.dispose()
    assert [v.name for v in volumes.list(home=str(home))] == ["v"]
    assert mode(home) == 0o700 and mode(home / "catalog.db") == 0o600


def test_a_wide_home_of_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a folder that belongs to another user")
    other = tmp_path / "theirs"
    other.mkdir(mode=0o755)
    os.chmod(other, 0o755)
    os.chown(other, 12345, 12345)
    with pytest.raises(MlfabricError, match="readable by other users and belongs to uid 12345"):
        private_dir(other)
    assert open_home(str(tmp_path / "mine")).path == tmp_path / "mine"
