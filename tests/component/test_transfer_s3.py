"""Transfers to and from a real S3 API over HTTP: moto's ThreadedMotoServer on 127.0.0.1,
reached through s3fs/boto3 exactly as a MinIO or AWS endpoint would be."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlfabric import transfer
from mlfabric.errors import MlfabricError, NotFound
from mlfabric.transfer.urls import open_location
from tests.helpers import run_cli, tree_digest, write_tree

SECRET = "s3cr3t-never-printed"
_names = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port for this module."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials in the environment (as a user would set them); no config files."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key=SECRET)


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"bucket-{next(_names)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def keys(endpoint: str, bucket: str, prefix: str = "") -> dict[str, int]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def contents(root: Path) -> dict[str, str]:
    return {p: d for p, (d, _) in tree_digest(root).items()
            if d != "dir" and ".mlfabric-" not in p}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write_tree(root, 12, dirs=3, size=3000)
    return root


def test_local_s3_round_trip(src: Path, tmp_path: Path, home: Path, endpoint: str,
                             bucket: str) -> None:
    url = f"s3://{bucket}/data"
    (src / "empty.bin").write_bytes(b"")
    (src / "with space" / "ünï").mkdir(parents=True)
    (src / "with space" / "ünï" / "cödé.txt").write_text("unicode")
    up = transfer.sync(str(src), url, endpoint_url=endpoint, home=home, workers=4)
    assert (up.copied, up.ok) == (14, True)
    assert len(keys(endpoint, bucket, "data/")) == 14
    again = transfer.sync(str(src), url, endpoint_url=endpoint, home=home)
    assert (again.copied, again.reasons) == (0, {"unchanged (journal)": 14})

    back = tmp_path / "back"
    down = transfer.sync(url, f"file://{back}", endpoint_url=endpoint, home=home)
    assert down.copied == 14 and contents(back) == contents(src)
    assert transfer.sync(url, str(back), endpoint_url=endpoint, home=home).copied == 0
    assert transfer.verify(str(src), url, mode="bytes", endpoint_url=endpoint).ok
    assert transfer.verify(url, str(back), mode="checksum", endpoint_url=endpoint).ok

    (src / "d0/sub0/file-00000.bin").unlink()
    (src / "d1/sub0/file-00001.bin").write_bytes(b"grown" * 1000)
    kept = transfer.copy(str(src), url, endpoint_url=endpoint, home=home)
    assert (kept.copied, kept.deleted) == (1, 0) and len(keys(endpoint, bucket, "data/")) == 14
    extra = transfer.verify(str(src), url, endpoint_url=endpoint)
    assert not extra.ok and extra.extra == ["d0/sub0/file-00000.bin"]
    assert transfer.verify(str(src), url, one_way=True, endpoint_url=endpoint).ok
    synced = transfer.sync(str(src), url, endpoint_url=endpoint, home=home)
    assert (synced.copied, synced.deleted) == (0, 1)
    listed = keys(endpoint, bucket, "data/")
    assert "data/d0/sub0/file-00000.bin" not in listed and len(listed) == 13
    assert listed["data/d1/sub0/file-00001.bin"] == 5000
    scan = transfer.scan(url, endpoint_url=endpoint)
    assert (scan.files, scan.bytes) == (13, sum(listed.values()))
    s3_to_s3 = transfer.sync(url, f"s3://{bucket}/mirror", endpoint_url=endpoint, home=home)
    assert s3_to_s3.copied == 13
    assert transfer.verify(url, f"s3://{bucket}/mirror", mode="bytes", endpoint_url=endpoint).ok


def test_upload_time_rule_without_journal(src: Path, tmp_path: Path, endpoint: str,
                                          bucket: str) -> None:
    """S3 LastModified is the upload time: a copy uploaded after the source last changed
    is current; a source touched later is copied again."""
    url = f"s3://{bucket}/p"
    transfer.sync(str(src), url, endpoint_url=endpoint, home=tmp_path / "h1")
    fresh = transfer.sync(str(src), url, endpoint_url=endpoint, home=tmp_path / "h2")
    assert (fresh.copied, fresh.reasons) == (0, {"unchanged (size and mtime)": 12})
    later = time.time() + 3600
    os.utime(src / "d2/sub0/file-00002.bin", (later, later))
    touched = transfer.sync(str(src), url, endpoint_url=endpoint, home=tmp_path / "h2")
    assert touched.copied == 1
    assert touched.reasons["source newer than destination"] == 1


def test_checksum_catches_same_size_same_mtime_change(src: Path, home: Path, endpoint: str,
                                                      bucket: str) -> None:
    url = f"s3://{bucket}/c"
    transfer.sync(str(src), url, endpoint_url=endpoint, home=home)
    f = src / "d0/sub1/file-00003.bin"
    st = f.stat()
    f.write_bytes(b"Z" * st.st_size)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert transfer.sync(str(src), url, endpoint_url=endpoint, home=home).copied == 0
    deep = transfer.sync(str(src), url, checksum=True, endpoint_url=endpoint, home=home)
    assert deep.copied == 1 and deep.reasons["content differs"] == 1
    assert transfer.verify(str(src), url, mode="checksum", endpoint_url=endpoint).ok


def test_failed_upload_leaves_nothing_visible(tmp_path: Path, home: Path, endpoint: str,
                                              bucket: str, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """A multipart upload that fails halfway is aborted: no object, no open upload."""
    from mlfabric.transfer import copier as copy_module

    src = tmp_path / "big"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(20 * 2**20))
    (src / "small.bin").write_bytes(b"fine")
    real_open = copy_module.open_pending
    multipart: list[bool] = []

    def failing(dst: Any, rel: str, **kw: Any) -> Any:
        pending = real_open(dst, rel, **kw)
        if rel == "big.bin":
            real_write = pending.file.write
            written = [0]

            def write(data: bytes) -> int:
                if written[0] >= 12 * 2**20:
                    multipart.append(bool(getattr(pending.file, "mpu", None)))
                    raise ConnectionResetError(104, "injected failure")
                written[0] += len(data)
                return real_write(data)

            pending.file.write = write
        return pending

    monkeypatch.setattr(copy_module, "open_pending", failing)
    r = transfer.sync(str(src), f"s3://{bucket}/up", endpoint_url=endpoint, home=home)
    assert multipart == [True]  # a part was already uploaded when it failed
    assert [e.path for e in r.errors] == ["big.bin"] and r.copied == 1
    assert keys(endpoint, bucket) == {"up/small.bin": 4}
    assert not s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads")


# -- the CLI, and bad input --------------------------------------------------------------
def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert SECRET not in err
    return lines[0]


def test_cli_sync_to_s3_and_verify(src: Path, home: Path, endpoint: str, bucket: str) -> None:
    url = f"s3://{bucket}/cli"
    r = run_cli(home, "transfer", "sync", str(src), url, "--endpoint-url", endpoint,
                "--option", "client_kwargs.region_name=us-east-1", "--json")
    assert r.code == 0, r.err
    assert r.json()["copied"] == 12 and SECRET not in r.out
    # botocore's own variable works too (e.g. for MinIO)
    v = run_cli(home, "transfer", "verify", str(src), url, "--bytes", "--json",
                env={"AWS_ENDPOINT_URL": endpoint})
    assert v.code == 0, v.err
    assert v.json()["ok"] is True and v.json()["files"] == 12
    assert SECRET.encode() not in (home / "catalog.db").read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_fails_fast(src: Path, home: Path, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    r = run_cli(home, "transfer", "sync", "s3://bucket/x", str(tmp_path / "dst"),
                "--endpoint-url", dead, "--timeout", "2")
    assert r.code == 1
    assert f"cannot reach {dead}: connection failed" in one_error_line(r.err)
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "dst").exists()


def test_silent_endpoint_times_out(src: Path, home: Path) -> None:
    """A server that accepts connections and never answers: each attempt ends after the
    timeout (3 attempts by default; one here, through --option, to keep the test short)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(MlfabricError) as info:
            transfer.sync(str(src), "s3://bucket/x", endpoint_url=url, timeout=1, home=home,
                          options=["config_kwargs.retries.max_attempts=1"])
        elapsed = time.monotonic() - t0
    assert str(info.value) == f"{url} did not answer within 1s"
    assert elapsed < 10


def test_wrong_credentials(src: Path, home: Path, endpoint: str, bucket: str) -> None:
    def auth(value: bytes) -> None:  # moto's switch for IAM checks of every request
        req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=value,
                                     method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    auth(b"0")
    try:
        up = run_cli(home, "transfer", "sync", str(src), f"s3://{bucket}/w",
                     "--endpoint-url", endpoint)
        down = run_cli(home, "transfer", "scan", f"s3://{bucket}", "--endpoint-url", endpoint)
    finally:
        auth(b"inf")
    for r in (up, down):
        assert r.code == 1
        line = one_error_line(r.err)
        assert "access denied" in line and "credentials" in line
    assert keys(endpoint, bucket) == {}


def test_missing_bucket(src: Path, home: Path, tmp_path: Path, endpoint: str) -> None:
    down = run_cli(home, "transfer", "sync", "s3://no-such-bucket/x", str(tmp_path / "dst"),
                   "--endpoint-url", endpoint)
    up = run_cli(home, "transfer", "copy", str(src), "s3://no-such-bucket/x",
                 "--endpoint-url", endpoint)
    for r in (down, up):
        assert r.code == 1
        assert f"bucket 'no-such-bucket' not found at {endpoint}" in one_error_line(r.err)
    assert not (tmp_path / "dst").exists()
    names = [b["Name"] for b in s3_client(endpoint).list_buckets()["Buckets"]]
    assert "no-such-bucket" not in names


def test_missing_prefix_and_api_errors(home: Path, endpoint: str, bucket: str) -> None:
    with pytest.raises(NotFound, match=r"source 's3://.*/nothing' not found"):
        transfer.scan(f"s3://{bucket}/nothing", endpoint_url=endpoint)
    loc = open_location(f"s3://{bucket}", endpoint_url=endpoint, timeout=5)
    assert loc.fs.config_kwargs["read_timeout"] == 5
    assert loc.fs.config_kwargs["retries"] == {"max_attempts": 3, "mode": "standard"}
    tuned = open_location(f"s3://{bucket}", endpoint_url=endpoint,
                          options={"config_kwargs": {"retries": {"max_attempts": 5}}})
    assert tuned.fs.config_kwargs["retries"] == {"max_attempts": 5, "mode": "standard"}
    with pytest.raises(MlfabricError, match="endpoint-url applies to s3://"):
        transfer.scan("memory://x", endpoint_url=endpoint)
