"""Fault injection: ``mlfabric`` killed with SIGKILL at random points of snapshot, restore,
clone and gc.

After every kill ``verify`` passes, every object a committed snapshot needs is present and
hashes to its id, and the interrupted command can be run again: it succeeds, or fails with
the one correct ``error:`` line because the killed run had already committed, and the state
is then the one the command promised. Kill delays are drawn uniformly from
[0, 1.1 x the operation's measured duration] with a seeded ``random.Random``; every
assertion message names the operation, seed, trial and delay so a failure can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlfabric import snapshots, volumes
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.objects import ObjectStore
from tests.helpers import MLFABRIC, Result, manifest_digest, run_cli, tree_digest, write_tree

TRIALS = 20
N_FILES = 200
FILE_SIZE = 4096

Digest = dict[str, tuple[str, int]]


@dataclass
class Trial:
    """One kill: which operation, the seed of its delays, and where it was cut."""

    op: str
    seed: int
    index: int
    delay: float
    duration: float
    killed: bool = False

    def __str__(self) -> str:
        how = "killed" if self.killed else "finished before the kill"
        return (f"{self.op} trial {self.index} (seed {self.seed}, SIGKILL after "
                f"{self.delay:.3f}s of a {self.duration:.3f}s run, {how})")


# -- running the CLI ----------------------------------------------------------------------

def _popen(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([MLFABRIC, "--home", str(home), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_killed(home: Path, args: tuple[str, ...], trial: Trial) -> None:
    """Start ``mlfabric ARGS``, SIGKILL it after ``trial.delay`` seconds (if still running)."""
    p = _popen(home, *args)
    time.sleep(trial.delay)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    _out, err = p.communicate(timeout=120)
    trial.killed = p.returncode == -signal.SIGKILL
    if not trial.killed:
        assert p.returncode == 0, f"{trial}: the uninterrupted run failed: {err}"


def learned(duration: float, trial: Trial) -> float:
    """A run that finished before its kill took less than the delay: later delays scale
    to that (the measured run may have been a slow one on a loaded machine)."""
    return duration if trial.killed else min(duration, trial.delay)


def timed(home: Path, *args: str) -> float:
    """Run a command to completion; its wall time is the scale of the kill delays."""
    t0 = time.monotonic()
    r = run_cli(home, *args, process=True)  # the killed runs are processes: so is the scale
    elapsed = time.monotonic() - t0
    assert r.code == 0, f"{args}: {r.err}"
    return elapsed


def assert_one_error_line(r: Result, expected: str, trial: Trial) -> None:
    assert r.code == 1 and r.err.strip() == expected, (
        f"{trial}: re-run should fail with {expected!r}, got exit {r.code}: {r.err!r}")


# -- what a committed snapshot holds ------------------------------------------------------

def committed_snapshots(home: Path) -> dict[str, tuple[str, str]]:
    """``VOLUME@SNAPSHOT`` -> (manifest id, kind), read straight from the catalog."""
    with closing(sqlite3.connect(home / "catalog.db", timeout=60)) as db:
        rows = db.execute("SELECT v.name, s.name, s.manifest_oid, s.kind FROM snapshots s "
                          "JOIN volumes v ON v.id = s.volume_id").fetchall()
    return {f"{v}@{s}": (m, k) for v, s, m, k in rows}


def committed_volumes(home: Path) -> dict[str, str | None]:
    """Volume name -> origin ``VOLUME@SNAPSHOT`` (None for a plain volume)."""
    with closing(sqlite3.connect(home / "catalog.db", timeout=60)) as db:
        rows = db.execute("SELECT name, origin_volume, origin_snapshot FROM volumes").fetchall()
    return {n: (f"{ov}@{os_}" if ov else None) for n, ov, os_ in rows}




def committed_digests(home: Path, trial: Trial | str) -> dict[str, Digest]:
    """Every committed snapshot's content, after checking independently of ``verify`` that
    its manifest and every object it names exist and hash to their ids."""
    store = ObjectStore(home / "objects")
    actual: dict[str, str | None] = {}
    problems: list[str] = []
    out: dict[str, Digest] = {}
    for ref, (moid, _kind) in sorted(committed_snapshots(home).items()):
        if store.hash_file(moid) != moid:
            problems.append(f"{ref}: manifest {moid} missing or damaged")
            continue
        manifest = Manifest.from_bytes(store.read_bytes(moid))
        for e in manifest.files:
            if e.ref not in actual:
                actual[e.ref] = store.hash_file(e.ref)
            if actual[e.ref] != e.ref:
                state = "missing" if actual[e.ref] is None else "damaged"
                problems.append(f"{ref}: '{e.path}' object {e.ref} {state}")
        out[ref] = manifest_digest(manifest)
    assert not problems, f"{trial}: {len(problems)} problem(s): {problems[:5]}"
    return out


def check_after_kill(home: Path, trial: Trial) -> dict[str, Digest]:
    """``mlfabric verify`` exits 0 and no committed snapshot lost an object."""
    verify = _popen(home, "verify")  # runs while the independent check reads
    digests = committed_digests(home, trial)
    out, err = verify.communicate(timeout=120)
    assert verify.returncode == 0, f"{trial}: verify failed after the kill: {out}{err}"
    return digests


def assert_same(actual: Digest, expected: Digest, what: str, trial: Trial | str) -> None:
    """Tree equality with a short message (the digests hold hundreds of paths)."""
    if actual == expected:
        return
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(p for p in set(actual) & set(expected) if actual[p] != expected[p])
    raise AssertionError(f"{trial}: {what} differs: {len(missing)} missing {missing[:3]}, "
                         f"{len(extra)} extra {extra[:3]}, {len(changed)} changed {changed[:3]}")


def store_objects(home: Path) -> set[str]:
    """Object ids present in the store (temp and quarantine areas excluded)."""
    root = home / "objects"
    return {f"sha256:{d.name}{f.name}" for d in root.iterdir() if len(d.name) == 2
            for f in d.iterdir()}


def sha256_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- building trees -----------------------------------------------------------------------

def payload(tag: str, size: int) -> bytes:
    unit = f"{tag}|".encode()
    return (unit * (size // len(unit) + 1))[:size]


def new_volume(home: Path, name: str, seed: int) -> Path:
    r = run_cli(home, "volume", "create", name)
    assert r.code == 0, r.err
    root = home / "volumes" / name
    write_tree(root, N_FILES, size=FILE_SIZE, seed=seed)
    return root


def mutate(root: Path, rng: random.Random, tag: str, *, rewrite: int, delete: int = 5,
           add: int = 10) -> None:
    """A typical change set: rewrite, delete and add files, change a mode, add a symlink."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    picked = rng.sample(files, min(len(files), rewrite + delete))
    for p in picked[:rewrite]:
        p.write_bytes(payload(f"{tag}:{p.name}", rng.randrange(1, 2 * FILE_SIZE)))
    for p in picked[rewrite:]:
        p.unlink()
    os.chmod(picked[0], rng.choice([0o600, 0o640, 0o755]))
    new = root / f"new-{tag}"
    new.mkdir(mode=rng.choice([0o700, 0o750, 0o755]))
    for i in range(add):
        (new / f"f{i}.bin").write_bytes(payload(f"{tag}:new{i}", rng.randrange(0, FILE_SIZE)))
    os.symlink("f0.bin", new / "link")


def assert_no_leftovers(home: Path, trial: Trial | str) -> None:
    """After ``gc --grace 0`` no temp file, staging tree or orphan volume dir remains."""
    tmp = sorted(p.name for p in (home / "objects" / "tmp").iterdir())
    staging = sorted(p.name for p in (home / "volumes" / ".tmp").iterdir())
    names = set(committed_volumes(home))
    orphans = sorted(p.name for p in (home / "volumes").iterdir()
                     if p.name != ".tmp" and p.name not in names)
    assert not (tmp or staging or orphans), (
        f"{trial}: gc left objects/tmp {tmp[:3]}, volumes/.tmp {staging[:3]}, "
        f"orphan volumes {orphans[:3]}")


def killed_enough(trials: list[Trial]) -> None:
    """Enough delays must land inside the run, or the test proves nothing. (About 85% do;
    the bar is lower because a loaded machine can make the measured run a slow one.)"""
    killed = sum(t.killed for t in trials)
    assert len(trials) >= 20 and killed >= len(trials) // 4, (
        f"only {killed} of {len(trials)} runs were actually killed")


# -- the four operations ------------------------------------------------------------------

@pytest.mark.slow
def test_snapshot_create_survives_sigkill(home: Path) -> None:
    seed = 1001
    rng = random.Random(seed)
    vol = new_volume(home, "data", seed)
    duration = timed(home, "snapshot", "create", "data", "--name", "t0")
    expected = {"data@t0": tree_digest(vol)}
    trials: list[Trial] = []
    for i in range(1, TRIALS + 1):
        mutate(vol, rng, f"m{i}", rewrite=N_FILES // 2)
        live = tree_digest(vol)
        trial = Trial("snapshot create", seed, i, rng.uniform(0, 1.1 * duration), duration)
        trials.append(trial)
        ref = f"data@t{i}"
        args = ("snapshot", "create", "data", "--name", f"t{i}")
        run_killed(home, args, trial)
        duration = learned(duration, trial)

        now = check_after_kill(home, trial)
        assert set(now) - set(expected) <= {ref}, f"{trial}: unexpected snapshots {set(now)}"
        for old, digest in expected.items():
            assert_same(now[old], digest, old, trial)
        rerun = run_cli(home, *args)
        if ref in now:
            assert_one_error_line(rerun, f"error: snapshot '{ref}' already exists", trial)
        else:
            assert rerun.code == 0, f"{trial}: re-run failed: {rerun.err}"
        expected[ref] = live
        after = committed_digests(home, trial)
        assert sorted(after) == sorted(expected), trial
        assert_same(after[ref], live, ref, trial)
        assert_same(tree_digest(vol), live, "the live volume", trial)
    killed_enough(trials)

    # Every snapshot still materializes byte for byte, and gc leaves no debris behind.
    r = run_cli(home, "gc", "--grace", "0")
    assert r.code == 0, r.err
    assert_no_leftovers(home, "snapshot create: final gc")
    for ref, digest in expected.items():
        clone = volumes.clone("x-" + ref.partition("@")[2], ref, home=str(home))
        assert_same(tree_digest(clone.path), digest, f"clone of {ref}", "snapshot create")


@pytest.mark.slow
def test_snapshot_restore_survives_sigkill(home: Path) -> None:
    seed = 2002
    rng = random.Random(seed)
    vol = new_volume(home, "data", seed)
    r = run_cli(home, "snapshot", "create", "data", "--name", "base")
    assert r.code == 0, r.err
    base = tree_digest(vol)
    mutate(vol, rng, "m0", rewrite=N_FILES // 2)
    first_pre = tree_digest(vol)
    duration = timed(home, "snapshot", "restore", "data@base")
    assert_same(tree_digest(vol), base, "the restored volume", "restore: setup")
    expected = committed_digests(home, "restore: setup")
    trials: list[Trial] = []
    for i in range(1, TRIALS + 1):
        mutate(vol, rng, f"m{i}", rewrite=N_FILES // 2)
        pre = tree_digest(vol)
        trial = Trial("snapshot restore", seed, i, rng.uniform(0, 1.1 * duration), duration)
        trials.append(trial)
        run_killed(home, ("snapshot", "restore", "data@base"), trial)
        duration = learned(duration, trial)

        now = check_after_kill(home, trial)
        for old, digest in expected.items():
            assert_same(now[old], digest, old, trial)
        kinds = committed_snapshots(home)
        new = sorted(set(now) - set(expected))
        assert len(new) <= 1, f"{trial}: more than one new snapshot: {new}"
        for ref in new:  # the killed run's safety snapshot holds the state before it
            assert kinds[ref][1] == "safety", f"{trial}: {ref} is a {kinds[ref][1]} snapshot"
            assert_same(now[ref], pre, f"safety snapshot {ref}", trial)
        mid = tree_digest(vol)
        rerun = run_cli(home, "--json", "snapshot", "restore", "data@base")
        assert rerun.code == 0, f"{trial}: re-run failed: {rerun.err}"
        safety = "data@" + rerun.json()["safety_snapshot"]
        assert_same(tree_digest(vol), base, "the restored volume", trial)
        after = committed_digests(home, trial)
        assert sorted(after) == sorted([*now, safety]), trial
        assert_same(after[safety], mid, f"re-run's safety snapshot {safety}", trial)
        expected = after
    killed_enough(trials)

    # The oldest safety snapshot still brings back the tree it was taken of.
    oldest = min((ref for ref, (_, kind) in committed_snapshots(home).items()
                  if kind == "safety"), key=lambda ref: ref.partition("@")[2])
    r = run_cli(home, "snapshot", "restore", oldest, "--no-safety-snapshot")
    assert r.code == 0, r.err
    assert_same(tree_digest(vol), first_pre, f"volume restored to {oldest}", "restore")


@pytest.mark.slow
def test_volume_clone_survives_sigkill(home: Path) -> None:
    seed = 3003
    rng = random.Random(seed)
    src = new_volume(home, "src", seed)
    r = run_cli(home, "snapshot", "create", "src", "--name", "s1")
    assert r.code == 0, r.err
    content = tree_digest(src)
    duration = timed(home, "volume", "clone", "c0", "--from", "src@s1")
    trials: list[Trial] = []
    for i in range(1, TRIALS + 1):
        name = f"c{i}"
        # Every third clone names only the volume, so it takes an automatic snapshot first.
        source = "src" if i % 3 == 0 else "src@s1"
        args = ("volume", "clone", name, "--from", source)
        trial = Trial(f"volume clone --from {source}", seed, i,
                      rng.uniform(0, 1.1 * duration), duration)
        trials.append(trial)
        run_killed(home, args, trial)
        duration = learned(duration, trial)

        listing = _popen(home, "--json", "volume", "list")  # alongside verify: both read
        now = check_after_kill(home, trial)
        for ref, digest in now.items():  # s1, and automatic snapshots of the unchanged src
            assert_same(digest, content, ref, trial)
        out, err = listing.communicate(timeout=120)
        assert listing.returncode == 0, f"{trial}: volume list failed: {err}"
        listed = {v["name"] for v in json.loads(out)}
        if name in listed:
            assert_same(tree_digest(home / "volumes" / name), content, name, trial)
            rerun = run_cli(home, *args)
            assert_one_error_line(rerun, f"error: volume '{name}' already exists", trial)
        else:
            # Odd trials: gc sweeps the debris first; even: the re-run replaces it, gc after.
            for step in ("gc", "rerun") if i % 2 else ("rerun", "gc"):
                if step == "rerun":
                    rerun = run_cli(home, *args)
                    assert rerun.code == 0, f"{trial}: re-run failed: {rerun.err}"
                    continue
                r = run_cli(home, "gc", "--grace", "0")
                assert r.code == 0, f"{trial}: gc failed: {r.err}"
                assert_no_leftovers(home, trial)
                assert (home / "volumes" / name).exists() == (name in committed_volumes(home))
        origins = committed_volumes(home)
        assert name in origins, f"{trial}: {name} not committed after the re-run"
        assert origins[name] is not None and origins[name].startswith("src@"), trial
        assert_same(tree_digest(home / "volumes" / name), content, name, trial)
    killed_enough(trials)

    # Every clone, committed by a killed run or a re-run, still equals its snapshot.
    listing = run_cli(home, "--json", "volume", "list")
    assert sorted(v["name"] for v in listing.json()) == sorted(
        ["src", *(f"c{i}" for i in range(TRIALS + 1))])
    for v in listing.json():
        assert_same(tree_digest(v["path"]), content, v["name"], "volume clone: final")


def make_garbage(home: Path, rng: random.Random, tag: str, n: int = 400) -> tuple[set[str],
                                                                                  list[Path]]:
    """Unreferenced objects and the debris of killed operations, as a crash leaves them."""
    oids: set[str] = set()
    objects = home / "objects"
    for i in range(n):
        data = payload(f"garbage:{tag}:{i}", rng.randrange(1, 512))
        oid = sha256_id(data)
        path = objects / oid[7:9] / oid[9:]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, 0o444)
        os.utime(path, ns=(0, 0))
        oids.add(oid)
    debris = [objects / "tmp" / f"99999-{tag}", home / "volumes" / ".tmp" / f"clone-x-{tag}",
              home / "volumes" / f"orphan-{tag}"]
    debris[0].write_bytes(b"half an object")
    for d in debris[1:]:
        write_tree(d, 20, size=64, seed=rng.randrange(1000))
    return oids, debris


@pytest.mark.slow
def test_gc_survives_sigkill(home: Path) -> None:
    seed = 4004
    rng = random.Random(seed)
    data = new_volume(home, "data", seed)
    r = run_cli(home, "snapshot", "create", "data", "--name", "keep-0")
    assert r.code == 0, r.err
    expected = {"data@keep-0": tree_digest(data)}
    make_garbage(home, rng, "g0")
    duration = timed(home, "gc", "--grace", "0")
    trials: list[Trial] = []
    for i in range(1, TRIALS + 1):
        # Work for gc: a deleted snapshot's own objects, crash debris, unreferenced objects.
        mutate(data, rng, f"m{i}", rewrite=40)
        snapshots.create("data", name=f"keep-{i}", home=str(home))
        expected[f"data@keep-{i}"] = tree_digest(data)
        if i >= 3:
            snapshots.delete(f"data@keep-{i - 3}", home=str(home))
            del expected[f"data@keep-{i - 3}"]
        garbage, debris = make_garbage(home, rng, f"g{i}")
        trial = Trial("gc --grace 0", seed, i, rng.uniform(0, 1.1 * duration), duration)
        trials.append(trial)
        run_killed(home, ("gc", "--grace", "0"), trial)
        duration = learned(duration, trial)

        now = check_after_kill(home, trial)
        assert sorted(now) == sorted(expected), trial
        for ref, digest in expected.items():
            assert_same(now[ref], digest, ref, trial)
        rerun = run_cli(home, "gc", "--grace", "0")
        assert rerun.code == 0, f"{trial}: re-run failed: {rerun.err}"
        assert_no_leftovers(home, trial)
        assert not any(p.exists() for p in debris), trial
        # Exactly what committed snapshots and the live tree's stat index need remains.
        manifests = {moid for moid, _ in committed_snapshots(home).values()}
        needed = manifests | {sha256_id(p.read_bytes()) for p in data.rglob("*")
                              if p.is_file() and not p.is_symlink()}
        for digest in committed_digests(home, trial).values():
            needed |= {"sha256:" + h for h, _ in digest.values() if len(h) == 64}
        present = store_objects(home)
        assert not garbage & present, f"{trial}: unreferenced objects survived the re-run"
        assert present == needed, (f"{trial}: {len(needed - present)} needed objects missing, "
                                   f"{len(present - needed)} unneeded kept")
        # A clone of one committed snapshot (each in turn) still materializes it exactly.
        ref = sorted(expected)[i % len(expected)]
        clone = volumes.clone(f"check-{i}", ref, home=str(home))
        assert_same(tree_digest(clone.path), expected[ref], f"clone of {ref}", trial)
        volumes.delete(clone.name, force=True, home=str(home))
    killed_enough(trials)

    # Every surviving snapshot clones exactly, and restore brings back the oldest.
    for ref, digest in expected.items():
        clone = volumes.clone("final-" + ref.partition("@")[2], ref, home=str(home))
        assert_same(tree_digest(clone.path), digest, f"clone of {ref}", "gc: final")
    oldest = min(expected, key=lambda ref: int(ref.rpartition("-")[2]))
    r = run_cli(home, "snapshot", "restore", oldest)
    assert r.code == 0, r.err
    assert_same(tree_digest(data), expected[oldest], f"volume restored to {oldest}", "gc")


def test_gc_removes_index_temp_left_by_a_killed_snapshot(home: Path) -> None:
    """A snapshot killed while saving its stat index leaves ``index/.N.idx.PID.tmp``
    (StatIndex.save writes a temp then renames); gc must sweep it like other debris."""
    vol = new_volume(home, "data", 5005)
    r = run_cli(home, "snapshot", "create", "data", "--name", "s1")
    assert r.code == 0, r.err
    index = home / "index"
    live = sorted(p.name for p in index.iterdir())
    assert live == ["1.idx"], live
    # Exactly what a SIGKILL between the temp write and os.replace leaves behind.
    leftover = index / ".1.idx.424242.tmp"
    leftover.write_bytes((index / "1.idx").read_bytes())
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    r = run_cli(home, "gc", "--grace", "1h")
    assert r.code == 0, r.err
    assert sorted(p.name for p in index.iterdir()) == ["1.idx"], (
        "gc kept the temp file of an interrupted stat-index save")
    assert tree_digest(vol) == committed_digests(home, "index temp")["data@s1"]
