"""Datasets and caches on a real S3 API over HTTP (moto's ThreadedMotoServer on 127.0.0.1,
reached through s3fs/boto3): only changed objects travel, pulls are byte-identical, and
bad input fails with one line, within a bounded time, leaving nothing half-written."""

from __future__ import annotations

import contextlib
import io
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import caches, datasets, remotes, snapshots, volumes
from mlfabric import console as output
from mlfabric.cli.main import main
from mlfabric.datasets.remote.fs import FsspecLake
from mlfabric.errors import MlfabricError
from tests.component.test_transfer_s3 import (
    SECRET,
    _aws_env,
    bucket,
    endpoint,
    free_port,
    keys,
)
from tests.helpers import tree_digest, write_tree

__all__ = ["_aws_env", "bucket", "endpoint"]  # fixtures shared with the transfer tests


@contextlib.contextmanager
def moto_auth(endpoint: str) -> Iterator[None]:
    """Turn on moto's IAM checks: the test credentials are then rejected."""

    def auth(value: bytes) -> None:
        req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=value,
                                     method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    auth(b"0")
    try:
        yield
    finally:
        auth(b"inf")


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    """``mlfabric --home HOME ARGS`` in this process (the moto server is here too)."""
    output.OPTIONS.home, output.OPTIONS.json, output.OPTIONS.quiet = None, False, False
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    output.console.file, output.err_console.file = out, err
    try:
        main(["--home", str(home), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdout, sys.stderr = old
        output.console.file, output.err_console.file = None, None  # type: ignore[assignment]
        output.OPTIONS.home, output.OPTIONS.json, output.OPTIONS.quiet = None, False, False
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert SECRET not in err
    return lines[0]


@pytest.fixture
def data(home: Path) -> Path:
    volumes.create("data", home=str(home))
    root = Path(volumes.path("data", home=str(home)))
    write_tree(root, 200, dirs=10, size=2000)
    return root


def test_push_pull_and_cache_over_s3(home: Path, tmp_path: Path, data: Path, endpoint: str,
                                     bucket: str) -> None:
    h = str(home)
    remotes.add("lake", f"s3://{bucket}/lake", endpoint_url=endpoint, home=h)
    snapshots.create("data", name="s1", home=h)
    expected = tree_digest(data)
    v1 = datasets.push("data@s1", remote="lake", name="images", home=h)
    first = {k for k in keys(endpoint, bucket, "lake/objects/")}
    assert v1.uploaded_objects == len(first) == 200

    for i in (5, 123):  # 1% of the files
        (data / f"d{i % 10}" / f"sub{(i // 10) % 5}" / f"file-{i:05}.bin").write_bytes(
            b"new content %d" % i)
    snapshots.create("data", name="s2", home=h)
    v2 = datasets.push("data@s2", name="images", home=h)
    added = set(keys(endpoint, bucket, "lake/objects/")) - first
    assert v2.uploaded_objects == len(added) == 2
    listed = keys(endpoint, bucket, "lake/")
    assert {k for k in listed if k.startswith("lake/datasets/")} == {
        "lake/datasets/images/v1.json", "lake/datasets/images/v2.json"}
    assert not any(k.startswith("lake/pending/") for k in listed)

    # a fresh home pulls v1 over HTTP: every object fetched, byte-identical to data@s1
    other = tmp_path / "other"
    remotes.add("lake", f"s3://{bucket}/lake", endpoint_url=endpoint, home=str(other))
    datasets.list(remote="lake", home=str(other))
    pulled = datasets.pull("images:v1", into="copy", home=str(other))
    assert (pulled.fetched_objects, pulled.files) == (200, 200)
    assert tree_digest(Path(pulled.path)) == expected
    assert datasets.show("images:v1", home=h).lineage == [
        "volume:data", "snapshot:data@s1", "dataset:images:v1"]

    # caches fetch only what they lack: v2 after v1 needs the 2 changed objects
    caches.config("fast", path=str(tmp_path / "pool"), size="10Mi", home=str(other))
    e1 = caches.add("images:v1", pool="fast", home=str(other))
    e2 = caches.add("images:v2", pool="fast", home=str(other))
    assert (e1.fetched_objects, e2.fetched_objects) == (200, 2)
    cached = {k: v for k, v in tree_digest(Path(e1.path)).items() if v[0] != "dir"}
    assert cached == {k: (d, 0o444) for k, (d, _) in expected.items() if d != "dir"}
    for db in (home / "catalog.db", other / "catalog.db"):
        assert SECRET.encode() not in db.read_bytes()


def test_failed_push_to_s3_leaves_no_version(home: Path, data: Path, endpoint: str,
                                             bucket: str, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    remotes.add("lake", f"s3://{bucket}/lake", endpoint_url=endpoint, home=str(home))
    real = FsspecLake.put_object  # S3 goes through the fsspec transport
    count = [0]

    def dies_halfway(self: FsspecLake, *args: object, **kwargs: object) -> None:
        count[0] += 1
        if count[0] > 120:
            raise ConnectionResetError(104, "injected failure")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FsspecLake, "put_object", dies_halfway)
    with pytest.raises(MlfabricError, match="no version was created"):
        datasets.push("data", remote="lake", name="images", home=str(home), workers=1)
    listed = keys(endpoint, bucket)
    assert not any(k.startswith(("lake/datasets/", "lake/pending/")) for k in listed)
    assert sum(k.startswith("lake/objects/") for k in listed) == 120
    assert datasets.list(home=str(home)) == []


def test_bad_input_is_one_line(home: Path, data: Path, tmp_path: Path, endpoint: str,
                               bucket: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert cli(home, "remote", "add", "dead", "s3://bucket/x", "--endpoint-url", dead,
               "--timeout", "2")[0] == 0
    t0 = time.monotonic()
    code, _, err = cli(home, "dataset", "push", "data", "--remote", "dead", "--name", "x")
    assert code == 1 and f"cannot reach {dead}: connection failed" in one_error_line(err)
    assert time.monotonic() - t0 < 30
    assert snapshots.list("data", home=str(home)) == []  # failed before any snapshot

    cli(home, "remote", "add", "nobucket", "s3://no-such-bucket/x", "--endpoint-url", endpoint)
    code, _, err = cli(home, "dataset", "push", "data", "--remote", "nobucket", "--name", "x")
    assert code == 1
    assert f"bucket 'no-such-bucket' not found at {endpoint}" in one_error_line(err)

    cli(home, "remote", "add", "lake", f"s3://{bucket}/lake", "--endpoint-url", endpoint)
    with moto_auth(endpoint):
        code, _, err = cli(home, "dataset", "push", "data", "--remote", "lake", "--name", "x")
    assert code == 1
    line = one_error_line(err)
    assert "access denied" in line and "credentials" in line
    assert keys(endpoint, bucket) == {}

    for args, message in [
        (("remote", "add", "bad", "s3://Not_A_Bucket/x"), "is not a valid bucket name"),
        (("remote", "add", "bad", "s3:/missing-slash"), "malformed URL"),
        (("remote", "add", "bad", "s3://b/x", "--option", "secret=" + SECRET),
         "would put a credential on the command line"),
        (("dataset", "pull", "ghost:v1", "--into", "y"), "dataset 'ghost' not found"),
        (("cache", "add", "ghost:v3"), "dataset 'ghost' not found"),
    ]:
        code, _, err = cli(home, *args)
        assert code == 1 and message in one_error_line(err), (args, err)

    assert cli(home, "dataset", "push", "data", "--remote", "lake", "--name", "x")[0] == 0
    code, _, err = cli(home, "dataset", "pull", "x:v2", "--into", "y")
    assert code == 1 and "dataset version 'x:v2' not found" in one_error_line(err)
    code, out, _ = cli(home, "remote", "list", "--json")
    assert code == 0 and SECRET not in out and '"endpoint_url": "http' in out
    assert SECRET.encode() not in (home / "catalog.db").read_bytes()
    assert [v.name for v in volumes.list(home=str(home))] == ["data"]
