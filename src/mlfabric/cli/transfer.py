"""``mlfabric transfer scan|copy|sync|verify``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from mlfabric.cli.backend import transfer
from mlfabric.console import OPTIONS, emit_json, err_console, progress, say, table
from mlfabric.errors import MlfabricError
from mlfabric.units import format_size

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS

_ENDPOINT_HELP = "S3 endpoint URL (MinIO, Ceph, ...); default AWS or $AWS_ENDPOINT_URL."
_OPTION_HELP = ("k=v for the fsspec file system, e.g. client_kwargs.region_name=eu-west-1 "
                "(repeatable; values may be JSON). Credentials come from the environment.")
_TIMEOUT_HELP = "Seconds a remote request may wait to connect or for an answer."
_WORKERS_HELP = "Files copied in parallel."
_DRY_RUN_HELP = "Only print the plan: each change, then files and bytes per action."
_SUMMARY_HELP = "With --dry-run: only the files and bytes per action, no line per file."
_CHECKSUM_HELP = "Compare content hashes instead of size and mtime."
_MAX_LISTED = 20


def _remote(endpoint_url: str | None, option: list[str] | None,
            timeout: float) -> dict[str, Any]:
    return {"endpoint_url": endpoint_url, "options": option or [], "timeout": timeout}


def _report(r: transfer.TransferResult) -> None:
    """Render a copy/sync result; raise when any file failed."""
    if OPTIONS.json:
        emit_json(r)
    elif r.dry_run:
        changes = [s for s in r.plan if s["action"] != "skip"]
        if changes:
            table(["ACTION", "PATH", "SIZE", "REASON"],
                  [[s["action"], s["path"], format_size(s["size"]), s["reason"]]
                   for s in changes])
        table(["ACTION", "FILES", "BYTES"],
              [[action, n["files"], format_size(n["bytes"])] for action, n in r.actions.items()])
        say(f"dry run: would copy {r.actions['copy']['files']} files, skip {r.skipped}, "
            f"delete {r.to_delete}")
    else:
        verb = "synced" if r.kind == "sync" else "copied"
        speed = f" ({format_size(r.bytes_per_s)}/s)" if r.copied_bytes else ""
        say(f"{verb} {r.src} -> {r.dst}: {r.copied} copied "
            f"({format_size(r.copied_bytes)}), {r.skipped} unchanged, {r.deleted} deleted, "
            f"{len(r.errors)} failed in {r.elapsed_s:.1f}s{speed}")
        if r.resumed_from:
            say("resumed after interrupted run(s) " + ", ".join(map(str, r.resumed_from)))
    if r.errors and not (OPTIONS.json or OPTIONS.quiet):
        for e in r.errors[:_MAX_LISTED]:
            err_console.print(f"failed ({e.phase}) {e.path}: {e.message}", markup=False)
        if len(r.errors) > _MAX_LISTED:
            err_console.print(f"... and {len(r.errors) - _MAX_LISTED} more", markup=False)
    r.check()


@contextmanager
def _resumable() -> Iterator[None]:
    """Ctrl-C: one line and exit 130; the journal has what finished, so a re-run resumes."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print("interrupted; run again to resume", markup=False, highlight=False)
        raise typer.Exit(130) from None


@app.command("scan")
def scan(src: str = typer.Argument(..., help="Path or URL to scan."),
         endpoint_url: str | None = typer.Option(None, "--endpoint-url", help=_ENDPOINT_HELP),
         option: list[str] | None = typer.Option(None, "--option", "-o", help=_OPTION_HELP),
         timeout: float = typer.Option(transfer.DEFAULT_TIMEOUT, "--timeout",
                                       help=_TIMEOUT_HELP)) -> None:
    """Count files and bytes, with a size histogram."""
    r = transfer.scan(src, **_remote(endpoint_url, option, timeout), progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    table(["SIZE", "FILES", "BYTES"],
          [[b.label, b.files, format_size(b.bytes)] for b in r.histogram if b.files])
    say(f"{r.url}: {r.files} files, {format_size(r.bytes)}")


@app.command("copy")
def copy(src: str = typer.Argument(..., help="Source path or URL."),
         dst: str = typer.Argument(..., help="Destination folder or URL."),
         checksum: bool = typer.Option(False, "--checksum", help=_CHECKSUM_HELP),
         ignore_times: bool = typer.Option(False, "--ignore-times", "-I", help="Copy every "
                                           "file, also those that look unchanged."),
         workers: int = typer.Option(transfer.DEFAULT_WORKERS, "--workers", "-j", min=1,
                                     max=256, help=_WORKERS_HELP),
         dry_run: bool = typer.Option(False, "--dry-run", help=_DRY_RUN_HELP),
         summary: bool = typer.Option(False, "--summary", help=_SUMMARY_HELP),
         endpoint_url: str | None = typer.Option(None, "--endpoint-url", help=_ENDPOINT_HELP),
         option: list[str] | None = typer.Option(None, "--option", "-o", help=_OPTION_HELP),
         timeout: float = typer.Option(transfer.DEFAULT_TIMEOUT, "--timeout",
                                       help=_TIMEOUT_HELP)) -> None:
    """Copy new and changed files (resumable); never delete anything."""
    with _resumable():
        r = transfer.copy(src, dst, checksum=checksum, ignore_times=ignore_times,
                          workers=workers, dry_run=dry_run, summary=summary,
                          home=OPTIONS.home, progress=progress(),
                          **_remote(endpoint_url, option, timeout))
    _report(r)


@app.command("sync")
def sync(src: str = typer.Argument(..., help="Source path or URL."),
         dst: str = typer.Argument(..., help="Destination folder or URL."),
         checksum: bool = typer.Option(False, "--checksum", help=_CHECKSUM_HELP),
         max_delete: int | None = typer.Option(None, "--max-delete", min=0, help="Refuse, "
                                               "changing nothing, when more than this many "
                                               "files would be deleted."),
         delete: bool = typer.Option(False, "--delete", hidden=True,
                                     help="Accepted for old scripts: sync always deletes."),
         workers: int = typer.Option(transfer.DEFAULT_WORKERS, "--workers", "-j", min=1,
                                     max=256, help=_WORKERS_HELP),
         dry_run: bool = typer.Option(False, "--dry-run", help=_DRY_RUN_HELP),
         summary: bool = typer.Option(False, "--summary", help=_SUMMARY_HELP),
         endpoint_url: str | None = typer.Option(None, "--endpoint-url", help=_ENDPOINT_HELP),
         option: list[str] | None = typer.Option(None, "--option", "-o", help=_OPTION_HELP),
         timeout: float = typer.Option(transfer.DEFAULT_TIMEOUT, "--timeout",
                                       help=_TIMEOUT_HELP)) -> None:
    """Make the destination identical: copy new and changed files (resumable), then
    delete files the source lacks (only after a copy phase without errors)."""
    if delete and not OPTIONS.quiet:
        err_console.print("note: --delete is no longer needed: sync always deletes files the "
                          "source lacks (transfer copy keeps them)", markup=False)
    with _resumable():
        r = transfer.sync(src, dst, checksum=checksum, max_delete=max_delete,
                          workers=workers, dry_run=dry_run, summary=summary,
                          home=OPTIONS.home, progress=progress(),
                          **_remote(endpoint_url, option, timeout))
    _report(r)


@app.command("verify")
def verify(src: str = typer.Argument(..., help="Source path or URL."),
           dst: str = typer.Argument(..., help="Destination folder or URL."),
           checksum: bool = typer.Option(False, "--checksum", help="Compare content hashes."),
           by_bytes: bool = typer.Option(False, "--bytes", help="Compare content byte by "
                                         "byte."),
           one_way: bool = typer.Option(False, "--one-way", help="Files only the destination "
                                        "has are not differences."),
           workers: int = typer.Option(transfer.DEFAULT_WORKERS, "--workers", "-j", min=1,
                                       max=256, help=_WORKERS_HELP),
           endpoint_url: str | None = typer.Option(None, "--endpoint-url",
                                                   help=_ENDPOINT_HELP),
           option: list[str] | None = typer.Option(None, "--option", "-o", help=_OPTION_HELP),
           timeout: float = typer.Option(transfer.DEFAULT_TIMEOUT, "--timeout",
                                         help=_TIMEOUT_HELP)) -> None:
    """Check both sides hold the same files with the same size (or content), like
    rclone check; --one-way checks only that every source file is at the destination."""
    if checksum and by_bytes:
        raise typer.BadParameter("use either --checksum or --bytes")
    mode = "checksum" if checksum else "bytes" if by_bytes else "size"
    r = transfer.verify(src, dst, mode=mode, one_way=one_way, workers=workers,
                        progress=progress(), **_remote(endpoint_url, option, timeout))
    if OPTIONS.json:
        emit_json(r)
    else:
        found = [(m.reason, m.path) for m in r.mismatches] + [("extra", p) for p in r.extra]
        for reason, path in found[:_MAX_LISTED]:
            say(f"{reason}: {path}")
        if len(found) > _MAX_LISTED:
            say(f"... and {len(found) - _MAX_LISTED} more")
        say(f"verified {r.files} files ({format_size(r.bytes)}) by {r.mode}: "
            + ("identical" if not r.mismatches else f"{len(r.mismatches)} differ")
            + (f"; {len(r.extra)} extra at the destination" if r.extra else "")
            + (" (one way)" if r.one_way else ""))
    if not r.ok:
        raise MlfabricError(f"verify found {r.differences} difference(s) between "
                            f"{r.src} and {r.dst}")
