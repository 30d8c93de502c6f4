"""Transfers between local folders and memory://, through the API and the CLI: re-sync
copies nothing, --checksum, sync deletes extras (only after a clean copy phase, never
beyond --max-delete) while copy keeps them, failures surfaced, atomic writes, and a
killed or interrupted sync that resumes without re-copying."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from mlfabric import transfer
from mlfabric.errors import Busy, InvalidInput, MlfabricError, NotFound
from mlfabric.transfer.journal import Journal
from mlfabric.transfer.urls import open_pair, pair_key
from mlfabric.units import format_size
from tests.helpers import MLFABRIC, run_cli, tree_digest, write_tree


def contents(root: Path) -> dict[str, str]:
    """Files only (path -> sha256), ignoring folders, permission bits and temp files."""
    return {p: d for p, (d, _) in tree_digest(root).items()
            if d != "dir" and ".mlfabric-" not in p}


def size_of(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def temps(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".mlfabric-" in p.name]


def rewrite_same_size(path: Path, data: bytes) -> None:
    """Change content, keep size and mtime: only a content hash can notice."""
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


class FlakyFS(MemoryFileSystem):
    """A memory file system whose reads of files named ``*boom*`` fail halfway."""

    protocol = "flaky"
    store: dict[str, Any] = {}  # noqa: RUF012 - fsspec keeps the store on the class
    pseudo_dirs = [""]  # noqa: RUF012

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        f = super()._open(path, mode, **kwargs)
        if "boom" in path and mode == "rb":
            real_read = f.read

            def read(n: int = -1) -> bytes:
                if f.tell() > 0:
                    raise ConnectionResetError(104, "injected failure")
                return real_read(min(n, 3) if n and n > 0 else 3)

            f.read = read
        return f


@pytest.fixture
def flaky() -> Any:
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)
    FlakyFS.store.clear()
    fs = FlakyFS()
    yield fs
    FlakyFS.store.clear()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write_tree(root, 40, dirs=4, size=1000)
    return root


# -- sync semantics --------------------------------------------------------------------
def test_resync_unchanged_copies_nothing_then_only_changes(src: Path, tmp_path: Path,
                                                          home: Path) -> None:
    dst = tmp_path / "dst"
    first = transfer.sync(str(src), str(dst), home=home)
    assert (first.copied, first.skipped, first.ok) == (40, 0, True)
    assert first.copied_bytes == size_of(src) and first.reasons == {"new": 40}
    assert contents(dst) == contents(src)
    # mtimes travel with the files
    rel = "d0/sub0/file-00000.bin"
    assert (dst / rel).stat().st_mtime_ns // 1000 == (src / rel).stat().st_mtime_ns // 1000

    again = transfer.sync(str(src), str(dst), home=home)
    assert (again.copied, again.skipped) == (0, 40)
    assert again.reasons == {"unchanged (size and mtime)": 40}  # a folder keeps mtimes

    (src / rel).write_bytes(b"longer content than before" * 50)
    (src / "new.txt").write_text("new")
    third = transfer.sync(str(src), str(dst), home=home)
    assert (third.copied, third.skipped) == (2, 39)
    assert third.reasons == {"new": 1, "size differs": 1, "unchanged (size and mtime)": 39}
    assert contents(dst) == contents(src)
    assert transfer.verify(str(src), str(dst), mode="bytes").ok


def test_without_journal_size_and_mtime_decide(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=tmp_path / "home-a")
    other = transfer.sync(str(src), str(dst), home=tmp_path / "home-b")
    assert (other.copied, other.reasons) == (0, {"unchanged (size and mtime)": 40})
    os.utime(src / "d1/sub0/file-00001.bin", (1_000_000, 1_000_000))
    touched = transfer.sync(str(src), str(dst), home=tmp_path / "home-b")
    assert touched.copied == 1 and touched.reasons["mtime differs"] == 1


def test_checksum_catches_same_size_same_mtime_change(src: Path, tmp_path: Path,
                                                      home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=home)
    rel = "d2/sub0/file-00002.bin"
    rewrite_same_size(src / rel, b"X" * (src / rel).stat().st_size)

    quick = transfer.sync(str(src), str(dst), home=home)
    assert quick.copied == 0  # size+mtime cannot see it, by design
    assert not transfer.verify(str(src), str(dst), mode="checksum").ok

    deep = transfer.sync(str(src), str(dst), checksum=True, home=home)
    assert (deep.copied, deep.skipped) == (1, 39)
    assert deep.reasons == {"content differs": 1, "unchanged (checksum)": 39}
    assert (dst / rel).read_bytes() == (src / rel).read_bytes()
    assert transfer.verify(str(src), str(dst), mode="checksum").ok


def test_sync_makes_identical_copy_keeps_extras(src: Path, tmp_path: Path,
                                                home: Path) -> None:
    """rclone's words: ``sync`` makes the destination identical (extras go, a dry run
    previews it), ``copy`` never deletes."""
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=home)
    (dst / "stale" / "deep").mkdir(parents=True)
    (dst / "stale" / "deep" / "old.bin").write_bytes(b"old")
    gone = (src / "d0/sub0/file-00000.bin").stat().st_size
    (src / "d0/sub0/file-00000.bin").unlink()
    before = tree_digest(dst)

    plan = transfer.sync(str(src), str(dst), dry_run=True, home=home)
    assert plan.dry_run and plan.job_id is None and plan.to_delete == 2
    assert {(s["action"], s["path"]) for s in plan.plan if s["action"] != "skip"} == {
        ("delete", "d0/sub0/file-00000.bin"), ("delete", "stale/deep/old.bin")}
    assert plan.actions["delete"] == {"files": 2, "bytes": gone + 3}
    assert tree_digest(dst) == before

    kept = transfer.copy(str(src), str(dst), home=home)
    assert (kept.deleted, kept.to_delete, kept.copied) == (0, 0, 0)
    assert (dst / "stale/deep/old.bin").exists() and tree_digest(dst) == before

    done = transfer.sync(str(src), str(dst), home=home)
    assert done.deleted == 2 and done.ok
    assert not (dst / "stale").exists()  # emptied folders go too
    assert contents(dst) == contents(src)


def test_max_delete_refuses_and_changes_nothing(src: Path, tmp_path: Path,
                                                home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=home)
    for rel in ("d0/sub0/file-00000.bin", "d1/sub0/file-00001.bin"):
        (src / rel).unlink()
    (src / "new.txt").write_text("not copied while the sync is refused")
    before = tree_digest(dst)
    with pytest.raises(MlfabricError, match=r"would delete 2 files, more than max-delete 1"):
        transfer.sync(str(src), str(dst), max_delete=1, home=home)
    assert tree_digest(dst) == before
    with pytest.raises(InvalidInput, match="max-delete"):
        transfer.sync(str(src), str(dst), max_delete=-1, home=home)
    r = transfer.sync(str(src), str(dst), max_delete=2, home=home)
    assert (r.deleted, r.copied) == (2, 1) and contents(dst) == contents(src)


def test_verify_fails_on_extra_files_unless_one_way(src: Path, tmp_path: Path,
                                                    home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.copy(str(src), str(dst), home=home)
    (dst / "extra.txt").write_text("only here")
    both = transfer.verify(str(src), str(dst))
    assert not both.ok and both.extra == ["extra.txt"] and both.mismatches == []
    one_way = transfer.verify(str(src), str(dst), one_way=True)
    assert one_way.ok and one_way.extra == ["extra.txt"]

    r = run_cli(home, "transfer", "verify", str(src), str(dst))
    assert r.code == 1 and "extra: extra.txt" in r.out
    assert "1 difference" in one_error_line(r.err)
    assert run_cli(home, "transfer", "verify", str(src), str(dst), "--one-way").code == 0
    transfer.sync(str(src), str(dst), home=home)
    assert transfer.verify(str(src), str(dst)).ok


def test_cli_sync_deletes_counts_and_guards(src: Path, tmp_path: Path, home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=home)
    for i in range(3):
        (dst / f"extra-{i}.txt").write_text("x")
    refused = run_cli(home, "transfer", "sync", str(src), str(dst), "--max-delete", "2")
    assert refused.code == 1 and "would delete 3 files" in one_error_line(refused.err)
    assert (dst / "extra-0.txt").exists()
    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--delete")
    assert r.code == 0, r.err
    assert "3 deleted" in r.out and "--delete is no longer needed" in r.err
    assert not list(dst.glob("extra-*"))
    (dst / "extra.txt").write_text("x")
    out = run_cli(home, "transfer", "sync", str(src), str(dst), "--json").json()
    assert (out["deleted"], out["to_delete"], out["copied"]) == (1, 1, 0)


def test_cli_dry_run_summary(src: Path, tmp_path: Path, home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src / "d0"), str(dst / "d0"), home=home)
    (dst / "extra.txt").write_text("x" * 10)
    full = run_cli(home, "transfer", "sync", str(src), str(dst), "--dry-run")
    assert full.code == 0, full.err
    assert "d1/sub0/file-00001.bin" in full.out  # a line per change
    short = run_cli(home, "transfer", "sync", str(src), str(dst), "--dry-run", "--summary")
    assert short.code == 0, short.err
    assert "file-0" not in short.out and "extra.txt" not in short.out
    rows = {cells[0]: cells[1:] for ln in short.out.splitlines()
            if (cells := [c for c in ln.split() if c != "\u2502"])}
    new = size_of(src) - size_of(src / "d0")
    assert rows["copy"][:3] == ["30", *format_size(new).split()]
    assert rows["skip"][0] == "10" and rows["delete"][:3] == ["1", "10", "B"]
    js = run_cli(home, "transfer", "sync", str(src), str(dst), "--dry-run", "--summary",
                 "--json").json()
    assert js["plan"] == [] and js["actions"] == {
        "copy": {"files": 30, "bytes": new}, "skip": {"files": 10, "bytes": size_of(src / "d0")},
        "delete": {"files": 1, "bytes": 10}}
    assert not (dst / "d1").exists() and (dst / "extra.txt").exists()


def test_copy_skips_unchanged_and_accepts_a_single_file(src: Path, tmp_path: Path,
                                                        home: Path) -> None:
    dst = tmp_path / "dst"
    assert transfer.copy(str(src), str(dst), home=home).copied == 40
    assert transfer.copy(str(src), str(dst), home=home).copied == 0
    assert transfer.copy(str(src), str(dst), ignore_times=True, home=home).copied == 40
    one = transfer.copy(str(src / "d3/sub0/file-00003.bin"), str(tmp_path / "single"),
                        home=home)
    assert one.copied == 1
    assert (tmp_path / "single" / "file-00003.bin").read_bytes() == \
        (src / "d3/sub0/file-00003.bin").read_bytes()


def test_memory_round_trip(src: Path, tmp_path: Path, home: Path) -> None:
    mem = "memory://xfer-test/data"
    try:
        up = transfer.sync(str(src), mem, home=home, workers=3)
        assert up.copied == 40 and transfer.verify(str(src), mem, mode="checksum").ok
        again = transfer.sync(str(src), mem, home=home)  # no mtimes there: the journal
        assert again.reasons == {"unchanged (journal)": 40}
        # memory:// keeps no source mtime: upload time counts, so nothing is newer
        assert transfer.sync(str(src), mem, home=tmp_path / "fresh").copied == 0
        down = transfer.sync(mem, str(tmp_path / "back"), home=home)
        assert down.copied == 40
        assert contents(tmp_path / "back") == contents(src)
        scan = transfer.scan(mem)
        assert (scan.files, scan.bytes) == (40, size_of(src))
        assert not [p for p in MemoryFileSystem().find("/xfer-test") if ".mlfabric-" in p]
    finally:
        MemoryFileSystem().rm("/xfer-test", recursive=True)


# -- failures ----------------------------------------------------------------------------
def test_every_copy_failure_is_reported_and_delete_is_skipped(flaky: Any, tmp_path: Path,
                                                              home: Path) -> None:
    for i in range(20):
        name = f"boom-{i}.bin" if i % 7 == 3 else f"ok-{i}.bin"
        flaky.pipe(f"/src/{name}", bytes([i]) * 4000)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "extra.txt").write_text("must survive a failed sync")

    r = transfer.sync("flaky://src", str(dst), workers=4, home=home)
    assert sorted(e.path for e in r.errors) == ["boom-10.bin", "boom-17.bin", "boom-3.bin"]
    assert all("injected failure" in e.message or "reset" in e.message for e in r.errors)
    assert r.copied == 17 and r.delete_skipped and r.deleted == 0 and not r.ok
    assert (dst / "extra.txt").exists()
    assert not temps(dst) and not list(dst.glob("boom*"))
    with pytest.raises(transfer.TransferFailed, match="sync failed for 3 file"):
        r.check()
    assert Journal.open(home).jobs()[0].state == "failed"


def test_refusals(src: Path, tmp_path: Path, home: Path) -> None:
    with pytest.raises(InvalidInput, match="overlap"):
        transfer.sync(str(src), str(src / "inside"), home=home)
    with pytest.raises(InvalidInput, match="overlap"):
        transfer.sync(str(src / "d0"), str(src), home=home)
    with pytest.raises(InvalidInput, match="workers"):
        transfer.sync(str(src), str(tmp_path / "d"), workers=0, home=home)
    with pytest.raises(InvalidInput, match="endpoint"):
        transfer.sync(str(src), str(tmp_path / "d"), endpoint_url="http://x:1", home=home)
    with pytest.raises(NotFound, match=r"source .* not found"):
        transfer.sync(str(tmp_path / "missing"), str(tmp_path / "d"), home=home)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        transfer.sync(str(src), str(tmp_path / "afile"), home=home)
    assert not (tmp_path / "d").exists()


def test_a_live_run_of_the_same_pair_is_busy(src: Path, tmp_path: Path, home: Path) -> None:
    dst = tmp_path / "dst"
    a, b = open_pair(str(src), str(dst))
    journal = Journal.open(home)
    started = journal.start(pair=pair_key(a, b), kind="sync", src=a.key, dst=b.key,
                            options={})  # this test's own (live) process holds it
    with pytest.raises(Busy, match="already running"):
        transfer.sync(str(src), str(dst), home=home)
    journal.finish(started.job_id, "done", None)
    assert transfer.sync(str(src), str(dst), home=home).copied == 40


# -- CLI -----------------------------------------------------------------------------------
def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def test_cli_sync_json_and_verify(src: Path, tmp_path: Path, home: Path) -> None:
    dst = tmp_path / "dst"
    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--workers", "3", "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert (out["copied"], out["skipped"], out["ok"], out["files"]) == (40, 0, True, 40)
    assert out["bytes_per_s"] > 0 and out["job_id"] >= 1
    again = run_cli(home, "transfer", "sync", str(src), str(dst), "--json").json()
    assert again["copied"] == 0 and again["skipped"] == 40
    v = run_cli(home, "transfer", "verify", str(src), str(dst), "--bytes")
    assert v.code == 0 and "identical" in v.out
    human = run_cli(home, "transfer", "scan", str(src))
    assert human.code == 0 and "40 files" in human.out
    scan = run_cli(home, "transfer", "scan", str(src), "--json").json()
    assert scan["files"] == 40 and scan["bytes"] == size_of(src)
    assert scan["histogram"][0] == {"label": "< 4.0 KiB", "below": 4096, "files": 40,
                                    "bytes": size_of(src)}


def test_cli_failed_copy_skips_delete_and_exits_nonzero(src: Path, tmp_path: Path,
                                                        home: Path) -> None:
    dst = tmp_path / "dst"
    blocker = dst / "d1/sub0/file-00001.bin"
    (blocker / "inner").mkdir(parents=True)  # a folder where a file must go
    (dst / "extra.txt").write_text("keep me")

    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--json")
    assert r.code == 1
    [line] = r.err.splitlines()  # under --json, the error is one JSON line
    error = json.loads(line)["error"]
    assert error["type"] == "TransferFailed"
    assert "sync failed for 1 file(s); delete phase skipped" in error["message"]
    assert "d1/sub0/file-00001.bin" in error["message"]
    out = r.json()
    assert out["delete_skipped"] is True and out["deleted"] == 0 and out["copied"] == 39
    assert [e["path"] for e in out["errors"]] == ["d1/sub0/file-00001.bin"]
    assert (dst / "extra.txt").exists() and not temps(dst)

    human = run_cli(home, "transfer", "sync", str(src), str(dst))
    assert human.code == 1
    assert "failed (copy) d1/sub0/file-00001.bin" in human.err
    assert human.err.strip().splitlines()[-1].startswith("error: sync failed")

    v = run_cli(home, "transfer", "verify", str(src), str(dst))
    assert v.code == 1 and "missing: d1/sub0/file-00001.bin" in v.out
    assert one_error_line(v.err).startswith("error: verify found 2 difference")  # + extra


@pytest.mark.parametrize(("args", "needle"), [
    (["sync", "s3://", "{dst}"], "bucket name missing"),
    (["sync", "s3:/bucket/x", "{dst}"], "malformed URL"),
    (["copy", "s3://Not_A_Bucket/x", "{dst}"], "not a valid bucket name"),
    (["sync", "ftpx://host/x", "{dst}"], "unsupported URL scheme"),
    (["sync", "{src}", "{dst}", "--option", "secret=hunter2"], "credential"),
    (["sync", "{src}", "{dst}", "--option", "novalue"], "expected key=value"),
    (["sync", "{missing}", "{dst}"], "not found"),
    (["verify", "{missing}", "{dst}"], "not found"),
    (["scan", "hdfs://namenode:8020/data"], "hdfs://"),
    (["sync", "{src}", "{src}/sub"], "overlap"),
])
def test_cli_bad_input_is_one_line(args: list[str], needle: str, src: Path, tmp_path: Path,
                                   home: Path) -> None:
    dst = tmp_path / "dst"
    subs = {"src": str(src), "dst": str(dst), "missing": str(tmp_path / "missing")}
    r = run_cli(home, "transfer", *[a.format(**subs) for a in args])
    assert r.code == 1, (r.out, r.err)
    assert needle in one_error_line(r.err)
    assert "hunter2" not in r.err + r.out
    assert not dst.exists()


def test_cli_usage_errors_exit_2(home: Path) -> None:
    assert run_cli(home, "transfer", "sync", "a", "b", "--workers", "0").code == 2
    assert run_cli(home, "transfer", "verify", "a", "b", "--checksum", "--bytes").code == 2


# -- kill and resume -------------------------------------------------------------------
STOPPED_TOTAL = 1200


def stopped_sync(tmp_path: Path, home: Path, sig: int, *, total: int = STOPPED_TOTAL
                 ) -> tuple[Path, Path, subprocess.Popen[str], str, str]:
    """``mlfabric transfer sync`` of ``total`` files in its own process, sent ``sig`` once
    it has copied 20 of them; returns the folders, the process, its stdout and stderr."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, total, dirs=20, size=8192)
    proc = sync_process(src, dst, home, copied=20)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return src, dst, proc, out, err


def _default_sigint() -> None:
    """Ctrl-C's default in the child, as a shell gives a foreground command: a test
    process whose SIGINT is ignored (a background ``make test``) would pass that on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sync_process(src: Path, dst: Path, home: Path, *, copied: int) -> subprocess.Popen[str]:
    """``mlfabric transfer sync`` in its own process, once it has copied ``copied`` files."""
    proc = subprocess.Popen([MLFABRIC, "--home", str(home), "transfer", "sync", str(src),
                             str(dst), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while sum(len([f for f in files if ".mlfabric-" not in f])
              for _, _, files in os.walk(dst)) < copied:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"sync ended or stalled before {copied} files: {proc.communicate()}")
        time.sleep(0.005)
    return proc


def assert_resumes(src: Path, dst: Path, home: Path, first_job: int, total: int) -> None:
    """A re-run goes on from the stopped one: it copies only what is not there yet."""
    finished = contents(dst)
    whole = contents(src)
    assert 0 < len(finished) < total  # and nothing half-written shows:
    assert finished == {p: whole[p] for p in finished}
    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["resumed_from"] == [first_job]
    assert (out["copied"], out["skipped"]) == (total - len(finished), len(finished))
    assert out["reasons"]["unchanged (size and mtime)"] == len(finished)
    assert contents(dst) == contents(src) and not temps(dst)
    assert run_cli(home, "transfer", "verify", str(src), str(dst), "--bytes").code == 0


def test_killed_sync_resumes_without_recopying(tmp_path: Path, home: Path) -> None:
    src, dst, proc, _, _ = stopped_sync(tmp_path, home, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL

    journal = Journal.open(home)
    pair = pair_key(*open_pair(str(src), str(dst)))
    first_job = journal.jobs(pair)[0]
    assert first_job.state == "running"  # it never got to say otherwise
    assert_resumes(src, dst, home, first_job.id, STOPPED_TOTAL)
    assert [j.state for j in journal.jobs(pair)] == ["done", "interrupted"]


def test_ctrl_c_says_run_again_and_the_next_run_resumes(tmp_path: Path, home: Path) -> None:
    """SIGINT, as Ctrl-C sends it: one line, exit 130, no traceback; a re-run resumes."""
    src, dst, proc, out, err = stopped_sync(tmp_path, home, signal.SIGINT)
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "interrupted; run again to resume" and out == ""

    journal = Journal.open(home)
    first_job = journal.jobs(pair_key(*open_pair(str(src), str(dst))))[0]
    assert first_job.state == "interrupted"
    assert_resumes(src, dst, home, first_job.id, STOPPED_TOTAL)


class StopFS(MemoryFileSystem):
    """A memory file system where writing a file named ``*stop*`` is a Ctrl-C."""

    protocol = "stopfs"
    store: dict[str, Any] = {}  # noqa: RUF012 - fsspec keeps the store on the class
    pseudo_dirs = [""]  # noqa: RUF012

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "stop" in path and "w" in mode and not self.store.get("/go"):
            raise KeyboardInterrupt
        return super()._open(path, mode, **kwargs)


def test_interrupted_upload_keeps_its_journal(tmp_path: Path, home: Path) -> None:
    """Where the destination keeps no mtimes (object stores) the journal is the record:
    an interrupt puts every finished copy on it, and the re-run skips them by it."""
    fsspec.register_implementation("stopfs", StopFS, clobber=True)
    StopFS.store.clear()
    src = tmp_path / "src"
    write_tree(src, 30, dirs=1, size=100)
    (src / "d0" / "sub0" / "file-00015.bin").rename(src / "d0" / "sub0" / "stop.bin")
    try:
        with pytest.raises(KeyboardInterrupt):
            transfer.sync(str(src), "stopfs://dst", workers=1, home=home)
        journal = Journal.open(home)
        pair = pair_key(*open_pair(str(src), "stopfs://dst"))
        rows = {r["path"] for r in journal.files(pair)}
        landed = {p.removeprefix("/dst/") for p in StopFS().find("/dst")}
        assert rows == landed and 0 < len(rows) < 30
        assert journal.jobs(pair)[0].state == "interrupted"
        StopFS.store["/go"] = True
        again = transfer.sync(str(src), "stopfs://dst", home=home)
        assert again.reasons["unchanged (journal)"] == len(rows)
        assert again.copied == 30 - len(rows)
    finally:
        StopFS.store.clear()


def test_uploads_are_journaled_while_they_run(tmp_path: Path, home: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the journal is the record, finished files reach it in batches during the run
    (every second; here at once), not only at its end: a kill loses little."""
    monkeypatch.setattr(importlib.import_module("mlfabric.transfer.sync"), "_FLUSH_S", 0.0)
    batches: list[int] = []
    real_record = Journal.record
    monkeypatch.setattr(Journal, "record", lambda self, pair, job, done: (
        batches.append(len(done)), real_record(self, pair, job, done))[1])
    src = tmp_path / "src"
    write_tree(src, 300, dirs=3, size=16)
    try:
        assert transfer.sync(str(src), "memory://journaled", workers=1, home=home).copied == 300
    finally:
        MemoryFileSystem().rm("/journaled", recursive=True)
    # more than the one batch at the end (how many depends on the threads' timing)
    assert len([n for n in batches if n]) >= 2 and sum(batches) == 300


def test_local_copies_are_flushed_once_before_the_run_is_done(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The durability point of a local destination: one syncfs of its file system after
    the last file, before the journal says the run is done (no flush per file or batch)."""
    sync_module = importlib.import_module("mlfabric.transfer.sync")
    src = tmp_path / "src"
    write_tree(src, 600, dirs=6, size=16)
    events: list[str] = []
    monkeypatch.setattr(sync_module, "syncfs", lambda path: events.append(f"syncfs {path}"))
    real_finish = Journal.finish

    def finish(self: Journal, job_id: int, state: str, summary: Any) -> None:
        events.append(f"finish {state} {len(contents(tmp_path / 'dst'))}")
        real_finish(self, job_id, state, summary)

    monkeypatch.setattr(Journal, "finish", finish)
    transfer.sync(str(src), str(tmp_path / "dst"), home=home)
    assert events == [f"syncfs {tmp_path / 'dst'}", "finish done 600"]
    events.clear()
    assert transfer.sync(str(src), str(tmp_path / "dst"), home=home).copied == 0
    assert events == []  # nothing to do: no flush, and no job either


def test_interrupted_runs_leave_no_visible_partial_files(src: Path, tmp_path: Path,
                                                         home: Path) -> None:
    """A temp file of a dead run is hidden from listings and removed by the next run."""
    dst = tmp_path / "dst"
    a, b = open_pair(str(src), str(dst))
    journal = Journal.open(home)
    dead = journal.start(pair=pair_key(a, b), kind="sync", src=a.key, dst=b.key, options={})
    journal.finish(dead.job_id, "interrupted", None)
    leftover = dst / "d0" / f".file-00000.bin.mlfabric-{dead.job_id}-0123abcd.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    foreign = dst / "d0" / ".x.mlfabric-999-0123abcd.part"  # not this pair's: left alone
    foreign.write_bytes(b"?")

    r = transfer.sync(str(src), str(dst), home=home)
    assert r.temps_removed == 1 and r.deleted == 0 and r.copied == 40
    assert not leftover.exists() and foreign.exists()
    assert transfer.scan(str(dst)).files == 40


def test_mlfabric_errors_are_single_lines(tmp_path: Path, home: Path) -> None:
    with pytest.raises(MlfabricError) as info:
        transfer.scan(str(tmp_path / "nothing-here"))
    assert "\n" not in str(info.value)
