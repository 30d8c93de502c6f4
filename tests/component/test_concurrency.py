"""Concurrency: eight ``mlfabric`` processes snapshotting, cloning and listing at once, on
the same and on different volumes. Each one succeeds or fails with one clear error line
(``{"error": ...}`` under ``--json``; never a traceback, never a raw "database is
locked"), and afterwards the catalog is consistent: snapshot names are unique per volume,
every clone equals its source snapshot, ``verify`` passes and every listed snapshot can be
cloned and restored.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from mlfabric import snapshots, volumes
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.objects import ObjectStore
from tests.helpers import MLFABRIC, manifest_digest, run_cli, tree_digest, write_tree

PROCS = 8
ROUNDS = 3
N_FILES = 150

Digest = dict[str, tuple[str, int]]


@dataclass
class Outcome:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"mlfabric {' '.join(self.args)} -> exit {self.code}, stderr {self.err!r}"


def run_at_once(home: Path, commands: list[tuple[str, ...]]) -> list[Outcome]:
    """Start every command before waiting for any, so they overlap."""
    procs = [(args, subprocess.Popen([MLFABRIC, "--home", str(home), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
             for args in commands]
    outcomes = []
    for args, p in procs:
        out, err = p.communicate(timeout=240)
        outcomes.append(Outcome(args, p.returncode, out, err))
    return outcomes


def assert_clean(o: Outcome) -> None:
    """Success, or exit 1 with exactly one error line (JSON: the commands run with
    ``--json``); no traceback in either case."""
    assert "Traceback" not in o.err and "database is locked" not in o.err, str(o)
    if o.code == 0:
        assert all(line.startswith("warning: ") for line in o.err.splitlines()), str(o)
    else:
        lines = o.err.splitlines()
        assert o.code == 1 and len(lines) == 1 and error_of(o), str(o)


def error_of(o: Outcome) -> str:
    """The message of a ``--json`` command's error line."""
    return json.loads(o.err)["error"]["message"]




def catalog_snapshots(home: Path) -> list[tuple[str, str, str]]:
    """(volume, snapshot, manifest id) rows, straight from the catalog."""
    with closing(sqlite3.connect(home / "catalog.db", timeout=60)) as db:
        return db.execute("SELECT v.name, s.name, s.manifest_oid FROM snapshots s "
                          "JOIN volumes v ON v.id = s.volume_id").fetchall()


def snapshot_digest(home: Path, moid: str) -> Digest:
    """A snapshot's content from its manifest, every object re-hashed on the way."""
    store = ObjectStore(home / "objects")
    manifest = Manifest.from_bytes(store.read_bytes(moid))
    for e in manifest.files:
        assert store.hash_file(e.ref) == e.ref, f"object {e.ref} of '{e.path}' missing/damaged"
    return manifest_digest(manifest)


def new_volume(home: Path, name: str, seed: int) -> Path:
    v = volumes.create(name, home=str(home))
    write_tree(Path(v.path), N_FILES, size=2048, seed=seed)
    snapshots.create(name, name="base", home=str(home))
    return Path(v.path)


def change(root: Path, rng: random.Random, tag: str) -> None:
    """Rewrite a few files and add one, so each round's snapshots differ."""
    files = sorted(p for p in root.rglob("*.bin"))
    for p in rng.sample(files, 10):
        p.write_bytes(f"{tag}:{p.name}".encode() * rng.randrange(1, 200))
    (root / f"added-{tag}.txt").write_text(tag)


def test_snapshot_clone_and_list_at_once_keep_the_catalog_consistent(home: Path) -> None:
    rng = random.Random(7007)
    roots = {name: new_volume(home, name, seed) for seed, name in enumerate(["a", "b"])}
    # ref -> content it must hold; clone name -> source ref (None: an automatic snapshot)
    content: dict[str, Digest] = {f"{v}@base": tree_digest(r) for v, r in roots.items()}
    clones: dict[str, tuple[str, Digest]] = {}
    for rnd in range(ROUNDS):
        for root in roots.values():
            change(root, rng, f"r{rnd}")
        live = {name: tree_digest(root) for name, root in roots.items()}
        commands = [
            ("--json", "snapshot", "create", "a"),                       # same volume, twice
            ("--json", "snapshot", "create", "a"),
            ("--json", "snapshot", "create", "b", "--name", f"r{rnd}"),  # another volume
            ("--json", "volume", "clone", f"a-r{rnd}-x", "--from", "a@base"),  # same source,
            ("--json", "volume", "clone", f"a-r{rnd}-y", "--from", "a"),       # distinct names
            ("--json", "volume", "clone", f"b-r{rnd}", "--from", "b@base"),
            # The middle round sweeps the store (grace 0) while the others write to it.
            ("--json", "gc", "--grace", "0") if rnd == 1 else ("--json", "volume", "list"),
            ("--json", "snapshot", "list", "a"),
        ]
        assert len(commands) == PROCS
        outcomes = run_at_once(home, commands)
        for o in outcomes:
            assert_clean(o)
            # Nothing here conflicts, so every process must get its work done.
            assert o.code == 0, str(o)
        made = [json.loads(o.out) for o in outcomes[:3]]
        for s in made:
            content[s["ref"]] = live[s["volume"]]
        assert made[0]["name"] != made[1]["name"], "two snapshots got one name"
        for o in outcomes[3:6]:
            v = json.loads(o.out)
            origin = v["origin"]
            if origin not in content:  # the automatic snapshot the clone took of the live 'a'
                assert o.args[-1] == "a", str(o)
                content[origin] = live["a"]
            clones[v["name"]] = (origin, content[origin])
        if rnd != 1:
            listed = [v["name"] for v in json.loads(outcomes[6].out)]
            assert len(listed) == len(set(listed)) and {"a", "b"} <= set(listed), listed
        seen = [s["name"] for s in json.loads(outcomes[7].out)]
        assert len(seen) == len(set(seen)) and "base" in seen, seen

    # The catalog: unique snapshot names, exactly the snapshots made, all intact.
    rows = catalog_snapshots(home)
    refs = [f"{v}@{s}" for v, s, _ in rows]
    assert len(refs) == len(set(refs)), sorted(refs)
    assert sorted(refs) == sorted(content), sorted(set(refs) ^ set(content))
    for v, s, moid in rows:
        assert snapshot_digest(home, moid) == content[f"{v}@{s}"], f"{v}@{s}"
    listing = run_cli(home, "--json", "volume", "list")
    assert listing.code == 0, listing.err
    listed = {v["name"]: v for v in listing.json()}
    assert sorted(listed) == sorted(["a", "b", *clones])
    for name, (origin, digest) in clones.items():
        assert listed[name]["origin"] == origin, name
        assert tree_digest(listed[name]["path"]) == digest, f"clone {name} differs from {origin}"
    for name in ("a", "b"):
        r = run_cli(home, "--json", "snapshot", "list", name)
        assert r.code == 0, r.err
        names = [s["name"] for s in r.json()]
        assert len(names) == len(set(names)) and sorted(names) == sorted(
            ref.partition("@")[2] for ref in content if ref.startswith(f"{name}@"))
    r = run_cli(home, "verify")
    assert r.code == 0, r.out + r.err

    # Every listed snapshot can be cloned and restored to exactly what it held.
    for i, ref in enumerate(sorted(content)):
        c = volumes.clone(f"check-{i}", ref, home=str(home))
        assert tree_digest(c.path) == content[ref], f"clone of {ref}"
    for name in ("a", "b"):
        for ref in sorted(r for r in content if r.startswith(f"{name}@")):
            snapshots.restore(ref, safety_snapshot=False, home=str(home))
            assert tree_digest(roots[name]) == content[ref], f"restore of {ref}"


def test_eight_processes_create_the_same_snapshot_name(home: Path) -> None:
    root = new_volume(home, "a", 1)
    (root / "extra.txt").write_text("after base")
    live = tree_digest(root)
    outcomes = run_at_once(home, [("--json", "snapshot", "create", "a", "--name", "same")]
                           * PROCS)
    for o in outcomes:
        assert_clean(o)
    winners = [o for o in outcomes if o.code == 0]
    losers = [o for o in outcomes if o.code != 0]
    assert len(winners) == 1, [str(o) for o in outcomes]
    for o in losers:
        assert error_of(o) == "snapshot 'a@same' already exists", str(o)
    assert json.loads(winners[0].out)["ref"] == "a@same"
    rows = [(v, s, m) for v, s, m in catalog_snapshots(home) if s == "same"]
    assert len(rows) == 1, rows
    assert snapshot_digest(home, rows[0][2]) == live
    r = run_cli(home, "verify")
    assert r.code == 0, r.out + r.err


def test_eight_processes_clone_to_the_same_name(home: Path) -> None:
    root = new_volume(home, "a", 2)
    base = tree_digest(root)
    outcomes = run_at_once(home, [("--json", "volume", "clone", "copy", "--from", "a@base")]
                           * PROCS)
    for o in outcomes:
        assert_clean(o)
    winners = [o for o in outcomes if o.code == 0]
    assert len(winners) == 1, [str(o) for o in outcomes]
    for o in outcomes:
        if o.code != 0:
            assert error_of(o) == "volume 'copy' already exists", str(o)
    v = json.loads(winners[0].out)
    assert v["origin"] == "a@base" and tree_digest(v["path"]) == base
    listing = run_cli(home, "--json", "volume", "list")
    assert sorted(x["name"] for x in listing.json()) == ["a", "copy"]
    assert [p.name for p in (home / "volumes" / ".tmp").iterdir()] == [], "staging left over"


def test_eight_processes_create_volumes_in_a_fresh_home(tmp_path: Path) -> None:
    """The very first commands on a new home race to create and migrate the catalog."""
    home = tmp_path / "fresh"
    home.mkdir()  # an empty folder: the first commands make the catalog
    outcomes = run_at_once(home, [("--json", "volume", "create", f"v{i}")
                                  for i in range(PROCS)])
    for o in outcomes:
        assert_clean(o)
        assert o.code == 0, str(o)
    listing = run_cli(home, "--json", "volume", "list")
    assert listing.code == 0, listing.err
    assert sorted(v["name"] for v in listing.json()) == [f"v{i}" for i in range(PROCS)]
