"""``mlfabric gc`` and ``mlfabric verify``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import store
from mlfabric.console import OPTIONS, emit_json, progress, say, warn
from mlfabric.errors import CorruptData
from mlfabric.units import format_size


def gc(dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would go."),
       grace: str = typer.Option("1h", "--grace", help="Keep unreferenced objects younger "
                                 "than this (protects work in flight)."),
       remote: str | None = typer.Option(None, "--remote", help="Collect this remote's lake "
                                         "instead: objects no dataset version references.")
       ) -> None:
    """Remove objects no snapshot needs, and leftovers of interrupted operations."""
    if remote is not None:
        _gc_remote(remote, dry_run, grace)
        return
    r = store.gc(dry_run=dry_run, grace=grace, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    verb = "would remove" if dry_run else "removed"
    say(f"{verb} {r.objects_removed} of {r.objects_total} objects "
        f"({format_size(r.bytes_removed)}); {r.kept_in_grace} kept within the grace period; "
        f"{len(r.leftovers_removed)} leftovers {verb}")


def _gc_remote(remote: str, dry_run: bool, grace: str) -> None:
    from mlfabric.cli.backend import datasets

    r = datasets.gc(remote, dry_run=dry_run, grace=grace, home=OPTIONS.home,
                    progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    verb = "would remove" if dry_run else "removed"
    say(f"remote {r.remote}: {verb} {r.objects_removed} of {r.objects_total} objects "
        f"({format_size(r.bytes_removed)}) and {r.manifests_removed} manifests no version "
        f"references; {r.objects_reachable} referenced by {r.versions} versions; "
        f"{r.kept_in_grace} kept within the grace period")


def verify(volume: str | None = typer.Argument(None, help="Only this volume's snapshots.")
           ) -> None:
    """Re-hash snapshot data; quarantine damaged objects and name affected snapshots."""
    r = store.verify(volume, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(r)
    else:
        say(f"checked {r.objects_checked} objects of {r.snapshots_checked} snapshots")
        for d in r.damaged_snapshots:
            say(f"damaged {d.snapshot}: {', '.join(d.paths[:20])}"
                + (" ..." if len(d.paths) > 20 else ""))
        for oid in r.quarantined:
            say(f"quarantined {oid}")
    for w in r.warnings:
        warn(w)
    if not r.ok:
        n = len(r.damaged_snapshots)
        raise CorruptData(f"verify found {n} damaged snapshot(s), "
                          f"{len(r.missing_objects)} missing and {len(r.corrupt_objects)} "
                          "corrupt object(s)" if n else "verify found problems (see warnings)")
