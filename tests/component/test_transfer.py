"""Transfers between local folders and memory://, through the API and the CLI: re-sync
copies nothing, --checksum, --delete only after a clean copy phase, failures surfaced,
atomic writes, and a killed sync that resumes without re-copying."""

from __future__ import annotations

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
    assert again.reasons == {"unchanged (journal)": 40}

    (src / rel).write_bytes(b"longer content than before" * 50)
    (src / "new.txt").write_text("new")
    third = transfer.sync(str(src), str(dst), home=home)
    assert (third.copied, third.skipped) == (2, 39)
    assert third.reasons == {"new": 1, "size differs": 1, "unchanged (journal)": 39}
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


def test_dry_run_changes_nothing_and_delete_prunes(src: Path, tmp_path: Path,
                                                   home: Path) -> None:
    dst = tmp_path / "dst"
    transfer.sync(str(src), str(dst), home=home)
    (dst / "stale" / "deep").mkdir(parents=True)
    (dst / "stale" / "deep" / "old.bin").write_bytes(b"old")
    (src / "d0/sub0/file-00000.bin").unlink()
    before = tree_digest(dst)

    plan = transfer.sync(str(src), str(dst), delete=True, dry_run=True, home=home)
    assert plan.dry_run and plan.job_id is None and plan.to_delete == 2
    assert {(s["action"], s["path"]) for s in plan.plan if s["action"] != "skip"} == {
        ("delete", "d0/sub0/file-00000.bin"), ("delete", "stale/deep/old.bin")}
    assert tree_digest(dst) == before

    kept = transfer.sync(str(src), str(dst), home=home)
    assert kept.deleted == 0 and (dst / "stale/deep/old.bin").exists()

    done = transfer.sync(str(src), str(dst), delete=True, home=home)
    assert done.deleted == 2 and done.ok
    assert not (dst / "stale").exists()  # emptied folders go too
    assert contents(dst) == contents(src)


def test_copy_always_copies_and_accepts_a_single_file(src: Path, tmp_path: Path,
                                                      home: Path) -> None:
    dst = tmp_path / "dst"
    assert transfer.copy(str(src), str(dst), home=home).copied == 40
    assert transfer.copy(str(src), str(dst), home=home).copied == 40
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

    r = transfer.sync("flaky://src", str(dst), delete=True, workers=4, home=home)
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
        transfer.sync(str(src / "d0"), str(src), delete=True, home=home)
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

    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--delete", "--json")
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

    human = run_cli(home, "transfer", "sync", str(src), str(dst), "--delete")
    assert human.code == 1
    assert "failed (copy) d1/sub0/file-00001.bin" in human.err
    assert human.err.strip().splitlines()[-1].startswith("error: sync failed")

    v = run_cli(home, "transfer", "verify", str(src), str(dst))
    assert v.code == 1 and "missing: d1/sub0/file-00001.bin" in v.out
    assert one_error_line(v.err).startswith("error: verify found 1 difference")


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
def test_killed_sync_resumes_without_recopying(tmp_path: Path, home: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    total = 1200
    write_tree(src, total, dirs=20, size=8192)
    a, b = open_pair(str(src), str(dst))
    pair = pair_key(a, b)
    journal = Journal.open(home)

    proc = subprocess.Popen([MLFABRIC, "--home", str(home), "transfer", "sync", str(src),
                             str(dst), "--workers", "1", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not journal.files(pair):
            assert proc.poll() is None, "sync finished before it could be killed"
            assert time.monotonic() < deadline, "no journal rows in time"
            time.sleep(0.02)
        assert proc.poll() is None, "sync finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    first_job = journal.jobs(pair)[0]
    assert first_job.state == "running"  # it never got to say otherwise
    journaled = {row["path"]: row for row in journal.files(pair)}
    finished = {p for p in contents(dst)}
    assert journaled and set(journaled) <= finished and len(finished) < total

    r = run_cli(home, "transfer", "sync", str(src), str(dst), "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["resumed_from"] == [first_job.id]
    assert out["copied"] == total - len(finished)
    assert out["skipped"] == len(finished)
    assert out["reasons"].get("unchanged (journal)", 0) >= len(journaled)
    after = {row["path"]: row for row in journal.files(pair)}
    assert all(after[p]["job_id"] == first_job.id and
               after[p]["copied_at"] == journaled[p]["copied_at"] for p in journaled)
    assert contents(dst) == contents(src) and not temps(dst)
    assert [j.state for j in journal.jobs(pair)] == ["done", "interrupted"]
    v = run_cli(home, "transfer", "verify", str(src), str(dst), "--bytes")
    assert v.code == 0, v.err


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

    r = transfer.sync(str(src), str(dst), delete=True, home=home)
    assert r.temps_removed == 1 and r.deleted == 0 and r.copied == 40
    assert not leftover.exists() and foreign.exists()
    assert transfer.scan(str(dst)).files == 40


def test_mlfabric_errors_are_single_lines(tmp_path: Path, home: Path) -> None:
    with pytest.raises(MlfabricError) as info:
        transfer.scan(str(tmp_path / "nothing-here"))
    assert "\n" not in str(info.value)
