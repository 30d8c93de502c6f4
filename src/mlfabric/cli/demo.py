"""``mlfabric demo``: a short tour of what exists, in a throw-away home."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mlfabric import snapshots, store, volumes
from mlfabric.cli.output import OPTIONS, say
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
    if not keep and not OPTIONS.home:
        for vname in ("demo-exp2", "demo-data"):
            volumes.delete(vname, force=True, home=home)
        shutil.rmtree(home, ignore_errors=True)
        say("demo finished; try: mlfabric --home /tmp/x volume create my-data")
    else:
        say(f"demo state kept; explore with: mlfabric --home {home} volume list")
