"""``mlfabric demo``: a short tour of what exists, in a throw-away home."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mlfabric import caches, datasets, jobs, nodes, projects, remotes, snapshots, store, volumes
from mlfabric.console import OPTIONS, say
from mlfabric.units import format_size


def demo(keep: bool = typer.Option(False, "--keep", help="Keep the demo home afterwards.")
         ) -> None:
    """Create a volume, snapshot it, change it, diff, clone and restore it."""
    home = OPTIONS.home or tempfile.mkdtemp(prefix="mlfabric-demo-")
    say(f"mlfabric demo in {home}")
    vol = volumes.create("demo-data", size="1Gi", labels=["project=demo"], home=home)
    root = Path(vol.path)
    for split in ("train", "val"):
        (root / split).mkdir()
        for i in range(50):
            (root / split / f"sample-{i:03}.txt").write_text(f"{split} sample {i}\n" * 20)
    s1 = snapshots.create("demo-data", name="baseline", home=home)
    say(f"1. snapshot {s1.ref}: {s1.files} files, {format_size(s1.bytes or 0)}")
    (root / "train" / "sample-000.txt").write_text("relabelled\n")
    os.remove(root / "val" / "sample-049.txt")
    (root / "train" / "extra.txt").write_text("new data\n")
    s2 = snapshots.create("demo-data", name="experiment-1", home=home)
    say(f"2. snapshot {s2.ref}: read only {s2.hashed_files} changed file(s)")
    d = snapshots.diff("demo-data@baseline", "demo-data@experiment-1", home=home)
    say(f"3. diff: added {d.added}, deleted {d.deleted}, modified {d.modified}")
    c = volumes.clone("demo-exp2", "demo-data@baseline", home=home)
    say(f"4. clone {c.name} from {c.origin} at {c.path}")
    r = snapshots.restore("demo-data@baseline", home=home)
    say(f"5. restored demo-data to baseline ({r.written} written, {r.removed} removed); "
        f"previous state kept as {r.safety_snapshot}")
    u = volumes.usage("demo-data", home=home)
    say(f"6. usage: {u.snapshots} snapshots of {format_size(u.snapshot_logical_bytes)} "
        f"stored in {format_size(u.stored_bytes)} (dedup {u.dedup_ratio:.1f}x)")
    v = store.verify(home=home)
    say(f"7. verify: {'ok' if v.ok else 'DAMAGED'} ({v.objects_checked} objects)")
    _lake_and_cache(home)
    _scheduler(home)
    if not keep and not OPTIONS.home:
        shutil.rmtree(home, ignore_errors=True)
        say("demo finished; try: mlfabric volume create my-data (in the default home), or "
            "mlfabric --home /tmp/x init first for a home of its own")
    else:
        say(f"demo state kept; explore with: mlfabric --home {home} volume list")


def _lake_and_cache(home: str) -> None:
    """Push the baseline to a lake in a local folder, then cache it next to compute."""
    lake = Path(home) / "lake"
    remotes.add("lake", str(lake), home=home)
    v1 = datasets.push("demo-data@baseline", remote="lake", name="demo-set", home=home)
    v2 = datasets.push("demo-data@experiment-1", remote="lake", name="demo-set", home=home)
    say(f"8. pushed {v1.dataset}:{v1.version} and :{v2.version} to the lake at {lake}")
    entry = caches.add(f"demo-set:{v2.version}", home=home)
    caches.add(f"demo-set:{v2.version}", home=home)
    st = caches.stats(home=home)[0]
    say(f"9. cached {entry.dataset}:{entry.version} at {entry.path}; "
        f"hits {st.hits}, misses {st.misses}")


def _scheduler(home: str) -> None:
    """Two teams share 8 simulated GPUs; the borrower gives GPUs back when asked."""
    nodes.add("gpu-node-1", gpus=8, runtime="sim", home=home)
    projects.create("team-a", quota=4, home=home)
    projects.create("team-b", quota=4, home=home)
    for i in range(4):
        jobs.submit(f"train-{i}", project="team-a", gpus=2, home=home)
    say("10. team-a borrows the idle GPUs: "
        + _allocation(home))
    jobs.submit("notebook", project="team-b", gpus=0.5, interactive=True, home=home)
    jobs.submit("train", project="team-b", gpus=2, home=home)
    say("11. team-b asks for its quota, team-a's newest jobs are preempted: "
        + _allocation(home))
    waiting = [j for j in jobs.list(home=home) if j.state == "Pending"]
    for j in waiting[:1]:
        say(f"    {j.project}/{j.name} waits: {j.reason}")


def _allocation(home: str) -> str:
    return ", ".join(f"{p.name} {p.allocated:g} GPUs" for p in projects.list(home=home))
