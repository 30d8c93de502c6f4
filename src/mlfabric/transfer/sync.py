"""``transfer copy`` and ``transfer sync``: list, plan, copy in parallel, then (sync only)
delete what the source lacks, as rclone's ``copy`` and ``sync`` do.

Deletes run only after a copy phase without a single error, so a failed run never
removes a destination file whose replacement did not arrive. A re-run after a kill or
an interrupt skips what finished: a local folder keeps each file's exact size and mtime,
so it is its own record, made durable by one ``syncfs`` before the run counts as done;
for other destinations (object stores keep upload times, not the source's mtime) the
workers' finished copies go to the journal in batches, and on interrupt.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlfabric.durable import syncfs
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.transfer.content import hash_file
from mlfabric.transfer.copier import LockedProgress, copy_files
from mlfabric.transfer.journal import Journal
from mlfabric.transfer.listing import Tree, list_tree, temp_job
from mlfabric.transfer.parallel import MAX_WORKERS, run_parallel
from mlfabric.transfer.plan import (
    Compare,
    Entry,
    JournalRecord,
    Plan,
    Step,
    checksum_candidates,
    plan_sync,
    with_checksums,
)
from mlfabric.transfer.records import FileError, TransferResult
from mlfabric.transfer.urls import (
    DEFAULT_TIMEOUT,
    Location,
    describe,
    open_pair,
    pair_key,
    probe_destination,
    probe_source,
)
from mlfabric.transfer.writers import keeps_mtime

DEFAULT_WORKERS = 8
_FLUSH_S = 1.0
_SUMMARY_ERRORS = 100


def copy(src: str, dst: str, *, checksum: bool = False, ignore_times: bool = False,
         workers: int = DEFAULT_WORKERS, dry_run: bool = False, summary: bool = False,
         endpoint_url: str | None = None,
         options: Sequence[str] | Mapping[str, Any] | None = None,
         timeout: float = DEFAULT_TIMEOUT, home: str | os.PathLike[str] | None = None,
         progress: Progress = NO_PROGRESS) -> TransferResult:
    """Copy new and changed files of ``src`` to ``dst`` (every file with
    ``ignore_times``); never delete anything (rclone's ``copy``)."""
    return _transfer("copy", src, dst, compare=_compare(checksum, ignore_times),
                     delete=False, max_delete=None, workers=workers, dry_run=dry_run,
                     summary=summary, endpoint_url=endpoint_url, options=options,
                     timeout=timeout, home=home, progress=progress)


def sync(src: str, dst: str, *, checksum: bool = False, max_delete: int | None = None,
         workers: int = DEFAULT_WORKERS, dry_run: bool = False, summary: bool = False,
         endpoint_url: str | None = None,
         options: Sequence[str] | Mapping[str, Any] | None = None,
         timeout: float = DEFAULT_TIMEOUT, home: str | os.PathLike[str] | None = None,
         progress: Progress = NO_PROGRESS) -> TransferResult:
    """Make ``dst`` identical to ``src`` (rclone's ``sync``): copy new and changed files
    (by size and mtime, or by content with ``checksum``), then delete the files ``src``
    lacks. Refuses, changing nothing, when that would delete more than ``max_delete``."""
    return _transfer("sync", src, dst, compare=_compare(checksum, False), delete=True,
                     max_delete=max_delete, workers=workers, dry_run=dry_run,
                     summary=summary, endpoint_url=endpoint_url, options=options,
                     timeout=timeout, home=home, progress=progress)


def _compare(checksum: bool, ignore_times: bool) -> Compare:
    return "all" if ignore_times else "checksum" if checksum else "size-mtime"


@dataclass
class _Run:
    """State of one run as it goes through its phases."""

    src: Tree
    dst: Tree
    pair: str
    workers: int
    progress: Progress
    journal: Journal
    job_id: int = 0
    # Local folders keep the source's exact size and mtime, so the destination itself
    # is the record (as for rclone); per-file journal rows only where it cannot be.
    local_record: bool = False
    copied: int = 0
    copied_bytes: int = 0
    deleted: int = 0
    errors: list[FileError] = field(default_factory=list)

    def error(self, path: str, phase: str, exc: BaseException, loc: Location) -> None:
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit in a worker
            raise exc
        self.errors.append(FileError(path, phase, describe(exc, loc, path)))


def _blame(src: Location, dst: Location) -> Location:
    """The side whose endpoint a failed copy most likely involves (for the message)."""
    if dst.is_object_store or not src.is_object_store:
        return dst
    return src


def _check_args(workers: int, max_delete: int | None) -> None:
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"invalid workers {workers}: expected 1 to {MAX_WORKERS}",
                           field="workers")
    if max_delete is not None and max_delete < 0:
        raise InvalidInput(f"invalid max-delete {max_delete}: expected 0 or more",
                           field="max_delete")


def _list_both(src: Location, dst: Location, progress: Progress, *,
               single_file: bool) -> tuple[Tree, Tree]:
    """Both listings; at once where one side is remote, so its requests overlap with the
    other side (two local listings are CPU-bound: threads would only contend)."""
    progress.start(f"listing {src.display()} and {dst.display()}")
    try:
        if src.is_local and dst.is_local:
            return (list_tree(src, single_file=single_file, progress=progress),
                    list_tree(dst, progress=progress))
        with ThreadPoolExecutor(1, thread_name_prefix="mlfabric-list") as pool:
            theirs = pool.submit(list_tree, dst, progress=progress)
            ours = list_tree(src, single_file=single_file, progress=progress)
            return ours, theirs.result()
    finally:
        progress.finish()


def _hash_phase(run: _Run, paths: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Content hashes of ``paths`` on both sides; failures become errors."""
    sums: dict[str, dict[str, str]] = {"src": {}, "dst": {}}
    trees = {"src": run.src, "dst": run.dst}
    total = 2 * sum(run.src.entries[p].size for p in paths)
    run.progress.start(f"hashing {len(paths)} files on both sides", total)

    def one(job: tuple[str, str]) -> str:
        side, path = job
        tree = trees[side]
        digest = hash_file(tree.loc.fs, tree.full_path(path),
                           on_bytes=lambda k: run.progress.advance(0, k))
        run.progress.advance(1, 0)
        return digest

    jobs = [(side, p) for p in paths for side in ("src", "dst")]
    try:
        for out in run_parallel(one, jobs, run.workers):
            side, path = out.item
            if out.error is not None:
                run.error(path, "hash", out.error, trees[side].loc)
            else:
                sums[side][path] = str(out.value)
    finally:
        run.progress.finish()
    return sums["src"], sums["dst"]


def _remove_temps(run: _Run) -> int:
    """Remove temporary files left by finished or interrupted runs of this pair."""
    ids = [job for rel in run.dst.temps if (job := temp_job(rel)) is not None]
    owned = run.journal.owned_by(run.pair, ids)
    removed = 0
    for rel in run.dst.temps:
        if temp_job(rel) in owned:
            with contextlib.suppress(Exception):
                run.dst.loc.fs.rm_file(run.dst.loc.join(rel))
                removed += 1
    return removed


def _copy_phase(run: _Run, steps: list[Step]) -> None:
    entries = [run.src.entries[s.path] for s in steps]
    run.progress.start(f"copying {len(entries)} files", sum(e.size for e in entries))
    # Workers append finished copies here; the journal gets them in batches.
    done: list[JournalRecord] | None = None if run.local_record else []
    recorded, last_flush = 0, time.monotonic()
    blame = _blame(run.src.loc, run.dst.loc)
    failed: list[Entry] = []
    try:
        for failures in copy_files(run.src, run.dst.loc, entries, job_id=run.job_id,
                                   workers=run.workers, progress=run.progress, done=done):
            for entry, exc in failures:
                run.error(entry.path, "copy", exc, blame)
                failed.append(entry)
            if done is not None and time.monotonic() - last_flush >= _FLUSH_S:
                recorded, last_flush = _record(run, done, recorded), time.monotonic()
    finally:
        # Also on an interrupt: what finished is on record, so a re-run skips it.
        if done is not None:
            _record(run, done, recorded)
        run.progress.finish()
    run.copied = len(entries) - len(failed)
    run.copied_bytes = sum(e.size for e in entries) - sum(e.size for e in failed)


def _record(run: _Run, done: list[JournalRecord], recorded: int) -> int:
    """Put the copies finished since ``recorded`` on record; returns the new mark."""
    upto = len(done)  # workers only append: everything before is final
    run.journal.record(run.pair, run.job_id, done[recorded:upto])
    return upto


def _make_durable(run: _Run) -> None:
    """One flush of the destination's file system for every file this run wrote (local
    folders; an object store has the bytes once it acknowledged them)."""
    root = run.dst.loc.root or "/"
    if run.dst.loc.is_local and os.path.isdir(root):
        syncfs(root)


def _prune_dirs(dst: Location, deleted: list[str]) -> None:
    """Remove local folders that deleting files left empty (never the root)."""
    parents = {posixpath.dirname(p) for p in deleted}
    for rel in sorted(parents, key=lambda p: -p.count("/")):
        while rel:
            try:
                os.rmdir(dst.join(rel))
            except OSError:
                break
            rel = posixpath.dirname(rel)


def _delete_phase(run: _Run, steps: list[Step]) -> None:
    dst = run.dst.loc
    run.progress.start(f"deleting {len(steps)} files")
    deleted: list[str] = []

    def one(path: str) -> None:
        dst.fs.rm_file(dst.join(path))
        run.progress.advance(1, 0)

    try:
        for out in run_parallel(one, [s.path for s in steps], run.workers):
            if out.error is not None:
                run.error(out.item, "delete", out.error, dst)
            else:
                deleted.append(out.item)
    finally:
        if not run.local_record:
            run.journal.forget(run.pair, deleted)
        run.progress.finish()
    if dst.is_local:
        _prune_dirs(dst, deleted)
    run.deleted = len(deleted)


def _plan(run: _Run, compare: Compare, delete: bool) -> Plan:
    src_entries: Mapping[str, Entry] = run.src.entries
    dst_entries: Mapping[str, Entry] = run.dst.entries
    records = run.journal.records(run.pair) \
        if compare == "size-mtime" and not run.local_record else {}
    if compare == "checksum":
        src_sums, dst_sums = _hash_phase(run, checksum_candidates(src_entries, dst_entries))
        src_entries = with_checksums(src_entries, src_sums)
        dst_entries = with_checksums(dst_entries, dst_sums)
    plan = plan_sync(src_entries, dst_entries, compare=compare, delete=delete,
                     journal=records, dst_mtime="exact" if keeps_mtime(run.dst.loc) else "upload")
    # A file that could not be hashed is undecided: it is reported, not copied.
    unreadable = {e.path for e in run.errors}
    return Plan(tuple(s for s in plan.steps if s.path not in unreadable))


def _transfer(kind: str, src_url: str, dst_url: str, *, compare: Compare, delete: bool,
              max_delete: int | None, workers: int, dry_run: bool, summary: bool,
              endpoint_url: str | None,
              options: Sequence[str] | Mapping[str, Any] | None, timeout: float,
              home: str | os.PathLike[str] | None, progress: Progress) -> TransferResult:
    t0 = time.monotonic()
    _check_args(workers, max_delete)
    progress = LockedProgress(progress)
    src, dst = open_pair(src_url, dst_url, endpoint_url=endpoint_url, options=options,
                         timeout=timeout)
    single = probe_source(src)
    probe_destination(dst)
    src_tree, dst_tree = _list_both(src, dst, progress, single_file=single)
    run = _Run(src=src_tree, dst=dst_tree,
               pair=pair_key(src, dst), workers=workers, progress=progress,
               journal=Journal.open(home), local_record=keeps_mtime(dst))
    plan = _plan(run, compare, delete)

    def result(delete_skipped: bool = False, temps: int = 0) -> TransferResult:
        return TransferResult(
            kind=kind, src=src.display(), dst=dst.display(), dry_run=dry_run,
            job_id=run.job_id or None, resumed_from=resumed, files=len(run.src.entries),
            bytes=run.src.bytes, copied=run.copied, copied_bytes=run.copied_bytes,
            skipped=len(plan.skips), deleted=run.deleted, to_delete=len(plan.deletes),
            delete_skipped=delete_skipped, errors=list(run.errors), reasons=plan.reasons(),
            elapsed_s=round(time.monotonic() - t0, 3), actions=plan.actions(),
            plan=[s.to_dict() for s in plan.steps] if dry_run and not summary else [],
            temps_removed=temps)

    resumed: list[int] = []
    if dry_run or not (plan.copies or plan.deletes or run.dst.temps or run.errors):
        return result()  # a plan, or nothing to do: no job, no write (as rclone's no-op)
    if max_delete is not None and len(plan.deletes) > max_delete:
        raise MlfabricError(f"{kind} would delete {len(plan.deletes)} files, more than "
                            f"max-delete {max_delete} allows: nothing was changed")
    started = run.journal.start(pair=run.pair, kind=kind, src=src.key, dst=dst.key,
                                options={"compare": compare, "delete": delete,
                                         "workers": workers})
    run.job_id, resumed = started.job_id, started.interrupted
    state, summary = "interrupted", None
    try:
        temps = _remove_temps(run)
        if dst.is_local:
            os.makedirs(dst.root or "/", exist_ok=True)
        _copy_phase(run, plan.copies)
        skip_delete = bool(plan.deletes) and bool(run.errors)
        if plan.deletes and not skip_delete:
            _delete_phase(run, plan.deletes)
        if plan.copies or plan.deletes:
            _make_durable(run)
        out = result(delete_skipped=skip_delete, temps=temps)
        state = "done" if out.ok else "failed"
        summary = {k: v for k, v in out.to_dict().items() if k != "plan"}
        summary["errors"] = summary["errors"][:_SUMMARY_ERRORS]
        return out
    except Exception as exc:
        state, summary = "failed", {"error": str(exc)}
        raise
    finally:
        run.journal.finish(run.job_id, state, summary)
