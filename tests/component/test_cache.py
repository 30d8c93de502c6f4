"""Cache pools on a local lake: one materialization per version, hits and misses, objects
shared between versions, prepopulate, budgets, leases, TTL sweeps, crash recovery, and
the CLI."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlfabric import caches, datasets, remotes, snapshots, volumes
from mlfabric.datasets.cache import pool as pool_module
from mlfabric.errors import Busy, InvalidInput, NotFound
from tests.component.test_datasets_s3 import cli, one_error_line
from tests.helpers import tree_digest

DAY = 86400.0


def fill(root: Path, n: int, size: int, seed: int = 0) -> None:
    """``n`` distinct files of exactly ``size`` bytes in d0..d2/sub0..sub1."""
    for i in range(n):
        d = root / f"d{i % 3}" / f"sub{(i // 3) % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file-{i:05}.bin").write_bytes((f"{seed}:{i}:".encode() * size)[:size])


def files(root: Path | str) -> dict[str, str]:
    return {k: d for k, (d, _) in tree_digest(root).items() if d != "dir"}


def pool_objects(pool: Path) -> set[str]:
    return {p.parent.name + p.name for p in (pool / "objects").glob("??/*")}


class Clock:
    """An injected clock: starts at 1,000,000 s and moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lake(home: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    """images:v1 (60 files), v2 (v1 with 3 files changed), other:v1 (20 other files);
    returns the expected content of each."""
    h = str(home)
    remotes.add("lake", str(tmp_path / "lake"), home=h)
    volumes.create("data", home=h)
    root = Path(volumes.path("data", home=h))
    fill(root, 60, 3000)
    expected = {"images:v1": files(root)}
    datasets.push("data", remote="lake", name="images", home=h)
    for i in (0, 1, 2):
        (root / f"d{i}" / "sub0" / f"file-{i:05}.bin").write_bytes(b"changed %d" % i)
    expected["images:v2"] = files(root)
    datasets.push("data", name="images", home=h)
    volumes.create("other", home=h)
    other = Path(volumes.path("other", home=h))
    fill(other, 20, 5000, seed=7)
    expected["other:v1"] = files(other)
    datasets.push("other", remote="lake", name="other", home=h)
    return expected


@pytest.fixture
def pool(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "pool"
    caches.config("fast", path=str(path), size="1Mi", home=str(home))
    return path


def test_add_once_then_hits_and_shared_objects(home: Path, lake: dict[str, dict[str, str]],
                                               pool: Path) -> None:
    h = str(home)
    e1 = caches.add("images:v1", pool="fast", home=h)
    assert (e1.hit, e1.fetched_objects, e1.state) == (False, 60, "complete")
    assert e1.path == str(pool / "entries" / "images" / "v1")
    assert files(e1.path) == lake["images:v1"]
    assert all(m == 0o444 for d, m in tree_digest(e1.path).values() if d != "dir")
    again = caches.add("images", pool="fast", home=h)  # latest is v2: a miss
    assert (again.version, again.hit, again.fetched_objects) == ("v2", False, 3)
    assert caches.add("images:v1", pool="fast", home=h).hit is True
    assert files(again.path) == lake["images:v2"]
    # 63 distinct file objects on disk (+ one tree manifest per entry), once each
    assert len(pool_objects(pool)) == 63 + 2
    [s] = caches.stats(pool="fast", home=h)
    assert (s.entries, s.hits, s.misses, s.evictions) == (2, 1, 2, 0)
    assert s.hit_ratio == pytest.approx(1 / 3) and s.bytes == 60 * 3000 + 3 * 9
    assert s.bytes_fetched == 60 * 3000 + 3 * 9

    removed = caches.remove("images:v1", pool="fast", home=h)
    assert [e.ref for e in removed] == ["images:v1"]
    assert not Path(e1.path).exists()
    assert files(again.path) == lake["images:v2"]  # shared objects stayed
    assert len(pool_objects(pool)) == 60 + 1
    assert [e.ref for e in caches.list(home=h)] == ["images:v2"]
    with pytest.raises(NotFound, match="cache entry 'images:v1 in pool 'fast'' not found"):
        caches.remove("images:v1", pool="fast", home=h)


def test_prepopulate_then_complete(home: Path, lake: dict[str, dict[str, str]],
                                   pool: Path) -> None:
    h = str(home)
    part = caches.prepopulate("images:v1", paths=["d0", "d1/sub1"], exclude=["*/sub0/*"],
                              pool="fast", home=h)
    want = {k: v for k, v in lake["images:v1"].items()
            if (k.startswith("d0/") and "/sub0/" not in k) or k.startswith("d1/sub1/")}
    assert part.state == "partial" and files(part.path) == want
    assert part.fetched_objects == len(want) and part.paths == ["d0", "d1/sub1"]
    [s] = caches.stats(pool="fast", home=h)
    assert (s.hits, s.misses, s.bytes_fetched) == (0, 0, len(want) * 3000)
    full = caches.add("images:v1", pool="fast", home=h)
    assert (full.state, full.hit, full.fetched_objects) == ("complete", False, 60 - len(want))
    assert files(full.path) == lake["images:v1"] and full.paths is None


def test_object_at_the_link_limit_is_copied(home: Path, lake: dict[str, dict[str, str]],
                                            pool: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    busy = lake["images:v1"]["d2/sub1/file-00005.bin"]
    real_link = os.link

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(src).endswith(busy[2:]):
            raise OSError(errno.EMLINK, "Too many links")
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    e = caches.add("images:v1", pool="fast", home=str(home))
    assert files(e.path) == lake["images:v1"]
    copied = Path(e.path) / "d2/sub1/file-00005.bin"
    linked = Path(e.path) / "d0/sub0/file-00000.bin"
    assert copied.stat().st_nlink == 1 and copied.stat().st_mode & 0o777 == 0o444
    assert linked.stat().st_nlink == 2


def test_budget_smaller_than_the_version(home: Path, lake: dict[str, dict[str, str]],
                                         tmp_path: Path) -> None:
    small = tmp_path / "small"
    code, _, _ = cli(home, "cache", "config", "--pool", "small", "--path", str(small),
                     "--size", "100Ki")
    assert code == 0
    code, _, err = cli(home, "cache", "add", "images:v1", "--pool", "small")
    assert code == 1
    assert ("images:v1 needs 175.8 KiB, more than the 100.0 KiB budget of cache pool "
            "'small'") in one_error_line(err)
    assert caches.list(home=str(home)) == []
    assert list((small / "entries").iterdir()) == [] and pool_objects(small) == set()
    assert list((small / "tmp").iterdir()) == []


def test_leases_pin_entries_and_ttl_sweeps(home: Path, lake: dict[str, dict[str, str]],
                                           pool: Path) -> None:
    h, clock = str(home), Clock()
    caches.add("images:v1", pool="fast", home=h, clock=clock)
    lease = caches.acquire_lease("other:v1", "job/train-1", pool="fast", home=h, clock=clock)
    assert lease.path == str(pool / "entries" / "other" / "v1")
    assert files(lease.path) == lake["other:v1"]
    assert {e.ref: e.leases for e in caches.list(pool="fast", home=h)} == {
        "images:v1": [], "other:v1": ["job/train-1"]}
    with pytest.raises(Busy, match=r"other:v1 is leased in pool\(s\) fast; use --force"):
        datasets.delete("other:v1", home=h)

    clock.now += DAY - 1  # used within the ttl: both stay
    assert caches.evict(pool="fast", home=h, clock=clock)[0].evicted == []
    clock.now += 2
    [sweep] = caches.evict(pool="fast", home=h, clock=clock)
    assert [(e.ref, e.reason) for e in sweep.evicted] == [("images:v1", "ttl")]
    assert [e.ref for e in caches.list(home=h)] == ["other:v1"]  # leased: kept

    with pytest.raises(Busy, match="leased in pool 'fast' by job/train-1"):
        caches.remove("other:v1", pool="fast", home=h)
    released = caches.release_lease("other:v1", "job/train-1", pool="fast", home=h,
                                    clock=clock)
    assert [x.holder for x in released] == ["job/train-1"]
    with pytest.raises(NotFound, match="lease 'job/train-1 on other:v1"):
        caches.release_lease("other:v1", "job/train-1", pool="fast", home=h)
    clock.now += DAY  # exactly the ttl after the release: still kept
    assert caches.evict(pool="fast", home=h, clock=clock)[0].evicted == []
    clock.now += 1
    assert [e.ref for e in caches.evict(pool="fast", home=h, clock=clock)[0].evicted] == [
        "other:v1"]
    assert pool_objects(pool) == set()
    [s] = caches.stats(pool="fast", home=h)
    assert (s.entries, s.evictions, s.bytes) == (0, 2, 0)


def test_high_watermark_evicts_lru_and_leases_can_fill_a_pool(
        home: Path, lake: dict[str, dict[str, str]], tmp_path: Path) -> None:
    h, clock = str(home), Clock()
    # images:v1 is 180,000 bytes, other:v1 100,000; budget 250,000: both do not fit
    caches.config("tight", path=str(tmp_path / "tight"), size=250_000, high=0.9, low=0.5,
                  home=h)
    caches.add("images:v1", pool="tight", home=h, clock=clock)
    clock.now += 10
    caches.add("other:v1", pool="tight", home=h, clock=clock)  # makes room: v1 goes (lru)
    assert [e.ref for e in caches.list(home=h)] == ["other:v1"]
    caches.acquire_lease("other:v1", "ws/alice", pool="tight", home=h, clock=clock)
    clock.now += 10
    with pytest.raises(Busy, match="cache pool 'tight' is full: leased entries hold"):
        caches.add("images:v1", pool="tight", home=h, clock=clock)
    assert [e.ref for e in caches.list(home=h)] == ["other:v1"]
    [s] = caches.stats(pool="tight", home=h)
    assert (s.misses, s.hits, s.evictions, s.leases) == (2, 1, 1, 1)


def test_crash_during_eviction_never_shows_a_half_deleted_entry(
        home: Path, lake: dict[str, dict[str, str]], pool: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    h = str(home)
    entry = Path(caches.add("images:v1", pool="fast", home=h).path)
    real = pool_module.remove_tree

    def crash(path: Path) -> None:
        if path.parent.name == "trash":
            raise KeyboardInterrupt("killed while deleting")
        real(path)

    monkeypatch.setattr(pool_module, "remove_tree", crash)
    with pytest.raises(KeyboardInterrupt):
        caches.remove("images:v1", pool="fast", home=h)
    assert not entry.exists()  # renamed away whole, before any file was deleted
    assert caches.list(home=h) == []  # the row says "evicting": not listed
    [trashed] = list((pool / "trash").iterdir())
    assert len(files(trashed)) == 60
    monkeypatch.setattr(pool_module, "remove_tree", real)
    # leftovers of other crashes: an orphan tree, a staging tree, a temp object
    (pool / "entries" / "ghost" / "v1").mkdir(parents=True)
    (pool / "entries" / "ghost" / "v1" / "f").write_text("orphan")
    (pool / "tmp" / "images-v2-123").mkdir()
    (pool / "objects" / "tmp" / "fetch-1").write_text("partial")
    caches.add("images:v2", pool="fast", home=h)  # takes the lock: recovery runs first
    assert list((pool / "trash").iterdir()) == [] and list((pool / "tmp").iterdir()) == []
    assert not (pool / "entries" / "ghost").exists()
    assert list((pool / "objects" / "tmp").iterdir()) == []
    assert [e.ref for e in caches.list(home=h)] == ["images:v2"]
    assert len(pool_objects(pool)) == 60 + 1


def test_objects_lost_in_a_crash_are_never_served(home: Path,
                                                  lake: dict[str, dict[str, str]],
                                                  pool: Path) -> None:
    """Objects are written without fsync; after a reboot the pool checks them before
    serving and fetches again what a crash lost."""
    h = str(home)
    entry = caches.add("images:v1", pool="fast", home=h)
    mark = pool / ".unsynced"
    assert mark.read_text().strip() == pool_module.boot_id()
    caches.evict(pool="fast", home=h)  # any locked operation flushes and clears the mark
    assert not mark.exists()
    caches.add("images:v2", pool="fast", home=h)
    shared = lake["images:v1"]["d1/sub1/file-00004.bin"]  # in both versions
    assert lake["images:v2"]["d1/sub1/file-00004.bin"] == shared
    victim = pool / "objects" / shared[:2] / shared[2:]
    victim.chmod(0o644)
    victim.write_bytes(b"")  # what an unsynced file looks like after a power cut
    os.utime(victim, ns=(0, 0))
    mark.write_text("an-earlier-boot\n")
    again = caches.add("images:v1", pool="fast", home=h)
    assert again.hit is False and again.fetched_objects == 1
    assert files(entry.path) == lake["images:v1"]
    assert [e.ref for e in caches.list(home=h)] == ["images:v1"]  # v2 shared it: dropped
    assert files(caches.add("images:v2", pool="fast", home=h).path) == lake["images:v2"]


def test_cli(home: Path, lake: dict[str, dict[str, str]], tmp_path: Path) -> None:
    path = tmp_path / "cli-pool"
    code, out, _ = cli(home, "cache", "config", "--pool", "p", "--path", str(path), "--size",
                       "200Gi", "--ttl", "2h", "--high", "0.95", "--low", "0.7")
    assert code == 0 and "budget 200.0 GiB, ttl 2h, watermarks 0.95/0.7" in out
    code, out, _ = cli(home, "cache", "add", "images:v2", "--pool", "p")
    assert code == 0 and out.strip() == str(path / "entries" / "images" / "v2")
    code, out, _ = cli(home, "cache", "prepopulate", "images:v1", "--pool", "p", "--path",
                       "d2", "--exclude", "*/sub1/*", "--json")
    assert code == 0 and json.loads(out)["state"] == "partial"
    code, out, _ = cli(home, "cache", "list", "--json")
    assert [(e["ref"], e["state"]) for e in json.loads(out)] == [
        ("images:v1", "partial"), ("images:v2", "complete")]
    code, out, _ = cli(home, "cache", "stats", "--pool", "p", "--json")
    [s] = json.loads(out)
    assert (s["entries"], s["misses"], s["hits"], s["hit_ratio"]) == (2, 1, 0, 0.0)
    code, out, _ = cli(home, "cache", "evict", "--dry-run")
    assert code == 0 and "pool p:" in out and "0 would evict" in out
    code, out, _ = cli(home, "cache", "remove", "images", "--pool", "p")
    assert code == 0 and out.count("removed images:") == 2
    assert os.listdir(path / "entries") == []
    for args, message in [
        (("cache", "config", "--pool", "p", "--high", "0.5", "--low", "0.6"),
         "need 0 < low <= high <= 1"),
        (("cache", "config", "--pool", "p", "--size", "lots"), "invalid size 'lots'"),
        (("cache", "add", "images:v1", "--pool", "nope"), "cache pool 'nope' not found"),
        (("cache", "prepopulate", "images:v1", "--pool", "p", "--path", "zzz"),
         "no file of the dataset matches zzz"),
    ]:
        code, _, err = cli(home, *args)
        assert code == 1 and message in one_error_line(err), (args, err)
    with pytest.raises(InvalidInput, match="overlaps pool 'p'"):
        caches.config("q", path=str(path / "inner"), home=str(home))
    assert snapshots.list("data", home=str(home))  # untouched by cache work
